"""`mledger reproduce REF`: rebuild a version from its tuple, then check the result bitwise, and
behaviourally when the bytes differ (S12). The outcome is a ``reproduction`` event.

The training script is run as recorded, in a git worktree of the recorded commit with the
recorded diff applied, by an interpreter holding the recorded packages, with the recorded seed
in ``MLEDGER_SEED`` (``ml.run`` takes it) and ``PYTHONHASHSEED``. Its data: ``ml.checkout`` reads
the same ledger (``MLEDGER_HOME``), and ``MLEDGER_DATA`` maps each recorded snapshot id and role
to a folder it was checked out into. What it registers or records (``ml.run``'s ``log_model``,
``register_model``, ``record_eval``) is noted for the comparison instead of entering the ledger.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelledger.blobs.tree import Tree, TreeEntry
from modelledger.core.errors import CheckFailed, InvalidInput, MledgerError
from modelledger.ledger import events, tombstones
from modelledger.ledger.home import Ledger, now
from modelledger.models import training_command as commands
from modelledger.models.reads import get_version
from modelledger.models.version import ModelVersion
from modelledger.reproduce import behaviour, mode, workspace
from modelledger.reproduce.plan import Facts, plan

KIND = "reproduction"


@dataclass(frozen=True)
class Options:
    workdir: Path | None = None
    tolerance: float = behaviour.TOLERANCE
    alpha: float = behaviour.ALPHA
    timeout: float = 3600.0
    offline: bool = False  # install the lock from no index (fails at once where it is missing)
    keep: bool = False  # leave the workspace in place


def facts_of(ledger: Ledger, version: ModelVersion) -> Facts:
    from modelledger.data.store import snapshots
    from modelledger.evals import store as evals
    from modelledger.ledger import cards

    t, manifest = version.tuple, version.manifest
    root = manifest.get("git_root")
    code = t.code
    here = isinstance(root, str) and Path(root).is_dir()
    blobs = ledger.blobs
    with ledger.db.read() as conn:
        known = {s.id for s in snapshots.get_many(conn, {d.snapshot_id for d in t.data})}
        status = {}
        for d in t.data:
            gone = tombstones.collected(conn, d.snapshot_id)
            if d.snapshot_id not in known:
                status[d.snapshot_id] = "not in the ledger"
            elif gone is not None:
                status[d.snapshot_id] = tombstones.note(gone)
            else:
                status[d.snapshot_id] = "ok"
        results = evals.results_of(conn, version.id)
        card = cards.latest(conn, "model", version.id)
    commit = code.commit if code is not None else None
    return Facts(
        repo_here=here,
        has_commit=bool(here and commit and workspace.has_commit(Path(str(root)), commit)),
        diff_stored=bool(code and code.diff_sha256 and blobs.has(code.diff_sha256)),
        lock_stored=bool(t.lock_sha256 and blobs.has(t.lock_sha256)),
        snapshots=status,
        eval_sets=[r.eval_set_id for r in results],
        inputs=card[1].get("inputs") if card else None,
    )


def dry_run(ledger: Ledger, ref: str) -> dict[str, Any]:
    version = get_version(ledger, ref, latest=True)
    return {
        "version": version.id,
        "label": version.label,
        **plan(version.to_json(), facts_of(ledger, version)).to_json(),
    }


def reproduce(
    ledger: Ledger, ref: str, options: Options, say: Callable[[str], None] = lambda s: None
) -> dict[str, Any]:
    version = get_version(ledger, ref, latest=True)
    facts = facts_of(ledger, version)
    steps = plan(version.to_json(), facts)
    report: dict[str, Any] = {"version": version.id, "label": version.label, **steps.to_json()}
    if not steps.runnable:
        report["outcome"] = "not reproducible"
        return _record(ledger, version, report)
    dest = options.workdir or _default_dir(ledger, version)
    if dest.exists() and any(dest.iterdir()):
        raise InvalidInput(f"{dest}: folder is not empty; give an empty --workdir")
    dest.mkdir(parents=True, exist_ok=True)
    root = Path(version.manifest["git_root"])
    src = dest / "src"
    started = time.perf_counter()
    try:
        report.update(_rebuild(ledger, version, facts, options, dest, root, src, say))
    except MledgerError as exc:
        report.update(outcome="failed", error=str(exc))
    finally:
        report["seconds"] = round(time.perf_counter() - started, 3)
        if not options.keep:
            workspace.remove_worktree(root, src)
            shutil.rmtree(dest, ignore_errors=True)
        else:
            report["workdir"] = str(dest)
    return _record(ledger, version, report)


def _rebuild(
    ledger: Ledger, version: ModelVersion, facts: Facts, options: Options,
    dest: Path, root: Path, src: Path, say: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    from modelledger.data.checkout import checkout

    t, blobs = version.tuple, ledger.blobs
    assert t.code is not None and t.code.commit is not None and t.lock_sha256 is not None
    say(f"worktree at {t.code.commit[:12]}")
    diff = blobs.get(t.code.diff_sha256) if t.code.diff_sha256 else None
    workspace.worktree(root, t.code.commit, src, diff)
    data: dict[str, str] = {}
    for d in t.data:
        say(f"checking out {d.snapshot_id[:15]}")
        where = dest / "data" / d.snapshot_id[:15]
        checkout(ledger, d.snapshot_id, where)
        data[d.snapshot_id] = data[d.role] = str(where)
    say("building the environment")
    python, how = workspace.interpreter(blobs.get(t.lock_sha256), dest, options.offline)
    cmd = version.manifest[commands.KEY]
    cwd = src / (commands.relative_cwd(cmd, str(root)) or ".")
    notes = dest / "notes.jsonl"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")},
        "MLEDGER_HOME": str(ledger.config.home or ""),
        "MLEDGER_USER": ledger.user,
        "MLEDGER_DATA": json.dumps(data),
        mode.NOTES: str(notes),
        mode.VERSION: version.id,
        "PYTHONPATH": workspace.pythonpath(cwd),
    }
    if t.seed is not None:
        env[mode.SEED] = str(t.seed)
        env["PYTHONHASHSEED"] = str(t.seed % 2**32)
    argv = commands.argv_for(cmd, python)
    say(f"running {commands.describe(cmd)}")
    log = dest / "train.log"
    with open(log, "wb") as sink:
        try:
            ran = subprocess.run(argv, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                 timeout=options.timeout, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"the training command ran past {options.timeout:g} s") from None
        except OSError as exc:
            raise CheckFailed(f"the training command could not start: {exc}") from None
    if ran.returncode != 0:
        lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
        last = lines[-1].strip() if lines else "(it printed nothing)"
        hint = "" if options.keep else " (--keep leaves its log to read)"
        raise CheckFailed(f"the training command exited {ran.returncode}: {last}{hint}")
    found = mode.read_notes(notes)
    artifact = _artifact(version, found, src, root)
    built = _sha_of(artifact)
    out: dict[str, Any] = {"environment": how, "artifact": str(artifact), "sha256": built}
    out["bitwise"] = built == t.artifact.sha256
    if out["bitwise"]:
        out["outcome"] = "bitwise"
        return out
    out["behaviour"] = _behaviour(ledger, version, facts, options, dest, python, artifact, found)
    ok = out["behaviour"].get("ok")
    out["outcome"] = "behavioural" if ok else "different"
    return out


def _artifact(version: ModelVersion, found: list[dict[str, Any]], src: Path, root: Path) -> Path:
    """What the run made: the artifact it registered, else the file at the recorded source."""
    models = [n for n in found if n["kind"] == "model" and n.get("name") == version.name]
    if models:
        return Path(models[-1]["artifact"])
    source = version.manifest.get("artifact_source")
    if source and Path(source).is_relative_to(root):
        candidate = src / Path(source).relative_to(root)
        if candidate.exists():
            return candidate
    raise CheckFailed(
        f"the run registered no artifact of {version.name}, and nothing is at {source} in the worktree"
    )


def _sha_of(path: Path) -> str:
    """The address the artifact would have: a file's sha256, a folder's tree."""
    if path.is_file():
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()
    entries = []
    for p in sorted(path.rglob("*")):
        if p.is_file():
            mode_ = 0o755 if os.access(p, os.X_OK) else 0o644
            entries.append(
                TreeEntry(p.relative_to(path).as_posix(), _sha_of(p), p.stat().st_size, mode_)
            )
    return Tree.of(entries).sha256


def _behaviour(
    ledger: Ledger, version: ModelVersion, facts: Facts, options: Options,
    dest: Path, python: str, artifact: Path, found: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    """The reproduced model against the version on its eval set: outputs, and the metrics the
    run recorded there."""
    from modelledger.data.checkout import checkout
    from modelledger.evals import store as evals
    from modelledger.models.checkout import checkout as checkout_model

    if not (facts.eval_sets and version.loader and facts.inputs):
        return {
            "ok": False,
            "why": "the bytes differ, and the version has no eval set, loader and declared "
            "inputs to compare behaviour on",
        }
    eval_set = facts.eval_sets[0]
    rows = _rows(ledger, eval_set, dest / "evalset", facts.inputs, checkout)
    (dest / "rows.json").write_text(json.dumps(rows))
    (dest / "inputs.json").write_text(json.dumps(facts.inputs))
    original = checkout_model(ledger, version.id, dest / "original").path
    outs = [_outputs(python, version.loader, p, dest) for p in (original, artifact)]
    result: dict[str, Any] = {"eval_set": eval_set, "rows": len(rows)}
    result["outputs"] = behaviour.compare_outputs(outs[0], outs[1], options.alpha)
    with ledger.db.read() as conn:
        recorded = evals.result_on(conn, version.id, eval_set)
    again = [n for n in found if n["kind"] == "eval" and n.get("eval_set") in (eval_set, None)]
    if recorded is not None and again:
        result["metrics"] = behaviour.compare_metrics(
            recorded.metrics, again[-1]["metrics"], options.tolerance
        )
    result["ok"] = result["outputs"]["ok"] and result.get("metrics", {"ok": True})["ok"]
    return result


def _rows(
    ledger: Ledger, eval_set: str, where: Path, inputs: dict[str, str], checkout: Any
) -> list[dict[str, Any]]:
    from modelledger.tabular.connection import connect

    checkout(ledger, eval_set, where)
    rows: list[dict[str, Any]] = []
    con = connect()
    for f in sorted(where.rglob("*")):
        reader = {".csv": "read_csv_auto", ".parquet": "read_parquet"}.get(f.suffix)
        if reader is None:
            continue
        rel = con.execute(f"SELECT * FROM {reader}(?)", [str(f)])
        names = [c[0] for c in rel.description]
        for values in rel.fetchall():
            row = dict(zip(names, values, strict=True))
            if set(inputs) <= row.keys():
                rows.append({k: row[k] for k in inputs})
    if not rows:
        raise CheckFailed(
            f"eval set {eval_set[:15]} holds no table rows with the inputs {', '.join(sorted(inputs))}"
        )
    return rows


def _outputs(python: str, loader: str, artifact: Path, dest: Path) -> list[Any]:
    done = subprocess.run(
        [python, "-m", "modelledger.reproduce.outputs", loader, str(artifact),
         str(dest / "rows.json"), str(dest / "inputs.json")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": workspace.pythonpath(dest)},
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise CheckFailed(f"{artifact.name} could not predict the eval set: {last}")
    return list(json.loads(done.stdout.strip().splitlines()[-1])["outputs"])


def _default_dir(ledger: Ledger, version: ModelVersion) -> Path:
    base = ledger.config.home or Path.cwd() / ".mledger"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return Path(base) / "reproductions" / f"{version.id[:15]}-{stamp}"


def _record(ledger: Ledger, version: ModelVersion, report: dict[str, Any]) -> dict[str, Any]:
    with ledger.db.write() as conn:
        e = events.append(conn, KIND, version.id, ledger.user, now(), report)
    return {**report, "event": e.seq}
