"""The public Python API (``import modelledger as ml``): a thin facade over the services."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Unpack

from modelledger.config import LedgerConfig, resolve
from modelledger.core.errors import InvalidInput
from modelledger.core.files import check_inputs
from modelledger.data import snapshot as snapshots
from modelledger.data.manifest import Snapshot
from modelledger.ledger.home import Ledger, init_ledger, now
from modelledger.ledger.home import open_config as _open_config
from modelledger.ledger.home import open_ledger as _open
from modelledger.models import hooks as model_hooks
from modelledger.models import reads as models
from modelledger.models import training_command as command
from modelledger.models.code import capture_code
from modelledger.models.register import (
    RegisterOptions,
    RegisterRequest,
    register,
)
from modelledger.models.version import CodeRef, DataRef, ModelVersion
from modelledger.remote.session import Remote, refuse_local, route
from modelledger.reproduce import mode as reproduce_mode
from modelledger.settings import Settings

model_hooks.install("modelledger.drift.hook:ProfileHook")  # drift reference profiles

_open_ledgers: dict[LedgerConfig, Ledger] = {}


def open_ledger(home: str | Path | None = None) -> Ledger:
    """The ledger at ``home`` (a folder holding ``.mledger/``), or the one found from the cwd.

    Ledgers stay open for the life of the process, one per configuration, so repeated calls are
    free (registration in a loop must not reconnect each time).
    """
    if home is None:
        refuse_local("this call")
    config = resolve(Settings(home=Path(home)) if home is not None else None)
    if config not in _open_ledgers:
        _open_ledgers[config] = _open_config(config)
    return _open_ledgers[config]


def init(path: str | Path = ".", db_url: str | None = None, blob_url: str | None = None) -> Ledger:
    result = init_ledger(Path(path), db_url, blob_url)
    return _open(Settings(home=result.home, db_url=db_url, blob_url=blob_url))


def register_model(
    name: str,
    artifact: str | Path,
    *,
    ledger: Ledger | None = None,
    **options: Unpack[RegisterOptions],
) -> ModelVersion:
    """Register (or find, when the same tuple exists) a model version; returns it. ``options``:
    data, params, seed, parent, base_model, lock, loader, card, allow_dirty, irreproducible,
    code_ref, code, code_dir, preprocessing, manifest (see ``mledger model register``)."""
    if (reproducing := reproduce_mode.active()) is not None:
        # a reproduction's run: what it made is compared with the version, not registered
        reproduce_mode.note("model", {"name": name, "artifact": str(Path(artifact).resolve())})
        return models.get_version(ledger or open_ledger(), reproducing)
    request = RegisterRequest.of(name, artifact, **options)
    if (remote := _remote(ledger)) is not None:
        from modelledger.models.remote import register_remote

        return ModelVersion.from_json(register_remote(remote, request))
    return register(ledger or open_ledger(), request).version


def get_version(ref: str, ledger: Ledger | None = None) -> ModelVersion:
    """A version by full id, unique prefix or ``NAME@N``."""
    if (remote := _remote(ledger)) is not None:
        from modelledger.models.remote import version_remote

        return version_remote(remote, ref)
    return models.get_version(ledger or open_ledger(), ref)


def _remote(ledger: Ledger | None) -> Remote | None:
    """The registry server ``MLEDGER_URL`` names, for a call given no ledger of its own. The
    calls that go through it: register_model, get_version, checkout_model, snapshot,
    checkout, create_eval_set, record_eval, gate_check, promote, approve, rehearse, rollback,
    live; the others
    refuse while it is set (``open_ledger``)."""
    return None if ledger is not None else Remote.from_environment()


def list_versions(name: str | None = None, ledger: Ledger | None = None) -> list[ModelVersion]:
    return models.list_versions(ledger or open_ledger(), name)


def search_versions(
    name: str | None = None,
    *,
    params: Iterable[str] = (),
    metrics: Iterable[str] = (),
    eval_set: str | None = None,
    data: Iterable[str] = (),
    tags: Iterable[str] = (),
    registered_by: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 50,
    ledger: Ledger | None = None,
) -> list[ModelVersion]:
    """Versions matching every filter, newest first; conditions as ``mledger model search``
    takes them: ``params=["lr=0.01..0.1"]``, ``metrics=["auc>=0.8"], eval_set="holdout"``,
    ``tags=["stage=candidate"]``."""
    from modelledger.search.conditions import Search, parse_all
    from modelledger.search.find import search

    query = Search(
        name=name,
        params=parse_all(params, "params"),
        metrics=parse_all(metrics, "metrics", "metric"),
        eval_set=eval_set,
        data=list(data),
        tags=parse_all(tags, "tags", "tag"),
        registered_by=registered_by,
        since=since,
        until=until,
        limit=limit,
    )
    return [f.version for f in search(ledger or open_ledger(), query).found]


def set_tags(
    ref: str,
    tags: Mapping[str, str] | None = None,
    *,
    remove: Iterable[str] = (),
    ledger: Ledger | None = None,
) -> dict[str, str]:
    """Set and remove tags on a version (labels outside its tuple, each change an event);
    returns its tags afterwards."""
    from modelledger.core.labels import tag_key, tag_value
    from modelledger.models import labels

    given = {tag_key(k): tag_value(k, str(v)) for k, v in (tags or {}).items()}
    return labels.tag(ledger or open_ledger(), ref, given, list(remove)).tags


def describe(ref: str, text: str | None, ledger: Ledger | None = None) -> None:
    """Set a version's description, or remove it with ``None`` (each change an event)."""
    from modelledger.models import labels

    labels.describe(ledger or open_ledger(), ref, text)


def snapshot(
    paths: str | Path | Iterable[str | Path],
    name: str,
    *,
    card: dict[str, Any] | None = None,
    derived_from: Iterable[str] = (),
    step: str | None = None,
    code: str | None = None,
    params: dict[str, Any] | None = None,
    ledger: Ledger | None = None,
) -> Snapshot:
    """Snapshot files or a folder as an immutable, content-addressed dataset; with
    ``derived_from`` and ``step``, also record the transformation that produced it."""
    items = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    check_inputs(items)
    req = snapshots.SnapshotRequest(
        items, name, card, list(derived_from), step, code, dict(params or {})
    )
    if (remote := _remote(ledger)) is not None:
        from modelledger.data.remote import snapshot_remote

        return snapshot_remote(remote, req).snapshot
    return snapshots.snapshot(ledger or open_ledger(), req).snapshot


def diff_data(
    a: str,
    b: str,
    *,
    key: list[str] | None = None,
    by: list[str] | None = None,
    tables: list[str] | None = None,
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """What changed between two snapshots (``mledger data diff --json``): findings first."""
    from modelledger.data.diff import diff

    return diff(ledger or open_ledger(), a, b, tables=tables, key=key, by=by)


def leakage(
    eval_ref: str,
    train: Iterable[str],
    *,
    key: list[str] | None = None,
    columns: list[str] | None = None,
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """Rows (or keys) of an eval snapshot that also appear in training snapshots; ``leak`` is
    True when any do."""
    from modelledger.data.leakage import leakage as check

    return check(ledger or open_ledger(), eval_ref, list(train), key=key, columns=columns)


def affected(
    *,
    source: str | None = None,
    record: str | None = None,
    within: Iterable[str] = (),
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """Deletion impact: snapshots holding a source or a ``COLUMN=VALUE`` record, and the model
    versions to retrain."""
    from modelledger.impact.affected import affected as trace

    return trace(ledger or open_ledger(), source=source, record=record, within=list(within))


def checkout(
    ref: str, directory: str | Path, force: bool = False, ledger: Ledger | None = None
) -> Path:
    """Materialise a snapshot into ``directory``, verifying every file's hash."""
    from modelledger.data.checkout import checkout as materialise

    if (remote := _remote(ledger)) is not None:
        from modelledger.data.remote import checkout_remote

        return checkout_remote(remote, ref, Path(directory), force).directory
    return materialise(ledger or open_ledger(), ref, Path(directory), force).directory


def checkout_model(
    ref: str, directory: str | Path, force: bool = False, ledger: Ledger | None = None
) -> Path:
    """Write a version's artifact into ``directory``, every byte checked against its sha256:
    the file written (a single-file artifact), or ``directory`` (a folder's files)."""
    from modelledger.models.checkout import checkout as write_out

    if (remote := _remote(ledger)) is not None:
        from modelledger.models.remote import checkout_remote

        return checkout_remote(remote, ref, Path(directory), force).path
    return write_out(ledger or open_ledger(), ref, Path(directory), force).path


def create_eval_set(
    name: str, paths: str | Path | Iterable[str | Path], ledger: Ledger | None = None
) -> str:
    """Snapshot eval data and mark it as an eval set; returns its ``ds-`` id."""
    from modelledger.evals.evaluate import create_eval_set as create

    items = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    check_inputs(items)
    if (remote := _remote(ledger)) is not None:
        from modelledger.evals.remote import create_eval_set_remote

        return create_eval_set_remote(remote, name, items)[0].snapshot.id
    return create(ledger or open_ledger(), name, items)[0].snapshot.id


def record_eval(
    ref: str,
    eval_set: str,
    metrics: dict[str, float],
    *,
    slices: dict[str, dict[str, float]] | None = None,
    report: str | Path | None = None,
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """Store an immutable result of ``ref`` on ``eval_set`` (``mledger eval record --json``)."""
    from modelledger.evals.evaluate import record
    from modelledger.evals.results import parse_metrics_file

    checked, checked_slices = parse_metrics_file({**metrics, "slices": slices or {}}, "metrics")
    if reproduce_mode.active() is not None:  # a reproduction's run: compared, not recorded
        reproduce_mode.note("eval", {"eval_set": eval_set, "metrics": checked})
        return {"eval_set": eval_set, "metrics": checked, "created": False, "reproduction": True}
    report_path = Path(report) if report is not None else None
    if (remote := _remote(ledger)) is not None:
        from modelledger.evals.remote import record_remote

        r, _, created, warnings = record_remote(
            remote, ref, eval_set, checked, checked_slices, report_path
        )
        return {**r.to_json(), "created": created, "warnings": warnings}
    done = record(
        ledger or open_ledger(),
        ref,
        eval_set,
        checked,
        checked_slices,
        report_path,
    )
    return {**done.result.to_json(), "created": done.created, "warnings": list(done.warnings)}


def gate_check(ref: str, env: str, ledger: Ledger | None = None) -> dict[str, Any]:
    """Evaluate ``ref`` against ``env``'s gate: ``passed`` and one entry per evidence criterion
    (approvals are judged on the promotion request)."""
    from modelledger.releases.gatekeeper import check, decision_json

    if (remote := _remote(ledger)) is not None:
        found: dict[str, Any] = remote.get(route("environments", env, "gate"), {"ref": ref})
        return found
    return decision_json(check(ledger or open_ledger(), ref, env))


def promote(
    ref: str,
    to: str,
    *,
    reason: str | None = None,
    expect_live: str | None = None,
    key: str | Path | None = None,
    expires: str = "7d",
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """Run the gate; on a pass move ``to`` to ``ref`` when its policy asks for no approval
    (``{"promoted": True, …}``), else open a promotion request signed with ``key`` (your
    signing key; default ``$MLEDGER_KEY``) and return ``{"promoted": False, "request": {…}}``.
    Raises ``GateFailed`` (a ``CheckFailed``) with the report when the evidence fails."""
    from modelledger.identity import keyfile, manage
    from modelledger.releases.promote import Promotion
    from modelledger.releases.promote import promote as run

    if (remote := _remote(ledger)) is not None:
        from modelledger.releases import remote as remote_releases

        signing_key = keyfile.load_if_any(key)
        return remote_releases.promote(
            remote, ref, to, reason, False, expect_live, signing_key, expires
        )
    ledger = ledger or open_ledger()
    signer = manage.signing_key(ledger, key)
    done = run(ledger, ref, to, reason, expect_live=expect_live, key=signer, expires=expires)
    if isinstance(done, Promotion):
        return {"promoted": True, **done.to_json()}
    return {"promoted": False, "request": done.to_json()}


def approve(
    request: str,
    *,
    reason: str | None = None,
    reject: bool = False,
    key: str | Path | None = None,
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """Sign an approval (or, with ``reject``, a rejection) of a promotion request with ``key``;
    ``promoted`` says whether it completed the count and moved the environment."""
    from modelledger.identity import keyfile
    from modelledger.releases.workflow import decide_request

    decision = "reject" if reject else "approve"
    if (remote := _remote(ledger)) is not None:
        from modelledger.releases.remote import decide

        return decide(remote, request, keyfile.load(key), decision, reason)
    done = decide_request(ledger or open_ledger(), request, keyfile.load(key), decision, reason)
    return done.to_json()


def live(env: str, ledger: Ledger | None = None) -> str:
    """The immutable id live in ``env`` now: what serving code should pin."""
    from modelledger.core.errors import NotFound
    from modelledger.releases.env_status import show

    if (remote := _remote(ledger)) is not None:
        found = remote.get(route("environments", env))
    else:
        found = show(ledger or open_ledger(), env)
    if found["id"] is None:
        raise NotFound(f"nothing is live in {env} yet")
    return str(found["id"])


def live_at(env: str, when: str, ledger: Ledger | None = None) -> str | None:
    """The id that was live in ``env`` at ``when`` (ISO-8601), or None if the environment existed
    but nothing was live; InvalidInput for a time before it existed or in the future."""
    from modelledger.releases.environments import at

    found = at(ledger or open_ledger(), env, when)["id"]
    return str(found) if found else None


def rehearse(env: str, ledger: Ledger | None = None) -> dict[str, Any]:
    """Check the live version and its rollback target can be served; records a rehearsal."""
    from modelledger.releases.rehearse import rehearse as run

    if (remote := _remote(ledger)) is not None:
        found: dict[str, Any] = remote.post(route("environments", env, "rehearsal"))
        return found
    return run(ledger or open_ledger(), env).to_json()


def rollback(
    env: str,
    approvers: str | Iterable[str],
    reason: str,
    *,
    to: str | None = None,
    key: str | Path | None = None,
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """Flip ``env`` back to a known-good version that passes the rehearsal checks now. On a
    ledger with identities it is signed with ``key`` (default ``$MLEDGER_KEY``), an approver's,
    and ``approvers`` stays empty."""
    from modelledger.identity import keyfile, manage
    from modelledger.releases.rollback import rollback as run

    names = [approvers] if isinstance(approvers, str) else list(approvers)
    if (remote := _remote(ledger)) is not None:
        from modelledger.releases.remote import rollback as remote_rollback

        if [n for n in names if n]:
            raise InvalidInput("through the server a rollback is signed (key), not typed names")
        done = remote_rollback(remote, env, to, reason, keyfile.load_if_any(key))
        return {k: v for k, v in done.items() if k != "rolled_back"}
    ledger = ledger or open_ledger()
    return run(ledger, env, names, reason, to, manage.signing_key(ledger, key)).to_json()


def log_predictions(
    records: Iterable[Mapping[str, Any]], env: str, ledger: Ledger | None = None
) -> Any:
    """Log predictions served outside ``mledger serve`` (each names its ``version_id``); returns
    the ingest report. All or nothing: a bad record names its position and nothing is written."""
    from modelledger.predictions.ingest import log_predictions as ingest

    return ingest(ledger or open_ledger(), records, env)


def drift_check(
    env: str,
    *,
    window: str = "24h",
    version: str | None = None,
    policy: str | Path | Mapping[str, Any] | None = None,
    record: bool = True,
    trigger_retrain: bool = False,
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """Drift of ``env``'s traffic in the window, as ``mledger drift check --json`` prints it.
    ``policy`` is a YAML file or its mapping; with ``record`` each alert is a ``drift_alert``
    event (and ``trigger_retrain`` adds ``retrain_triggered``)."""
    from modelledger.core.parsing import load_mapping
    from modelledger.drift import alerts as drift_alerts
    from modelledger.drift.check import check
    from modelledger.drift.policy import parse_drift_policy

    if isinstance(policy, str | Path):
        policy = load_mapping(Path(policy), "policy")
    led = ledger or open_ledger()
    result = check(led, env, window=window, version=version, policy=parse_drift_policy(policy))
    if record:
        drift_alerts.record(led, result, trigger_retrain=trigger_retrain)
    return result.to_json()


class Run:
    """One training run. Code state, dependency lock, hardware and seed are captured when it starts;
    every ``log_model`` registers a version carrying them (scenario S2)."""

    def __init__(
        self,
        ledger: Ledger,
        name: str,
        *,
        seed: int,
        code: CodeRef | None,
        code_notes: dict[str, Any],
        data: list[str | DataRef],
        params: dict[str, Any],
        lock: Path | None,
    ) -> None:
        self.ledger = ledger
        self.name = name
        self.seed = seed
        self.code = code
        self.data = data
        self.params = params
        self.lock = lock
        self.started_at = now()
        self._code_notes = code_notes
        self.versions: list[ModelVersion] = []

    def log_param(self, key: str, value: Any) -> None:
        self.params[key] = value

    def log_params(self, params: dict[str, Any]) -> None:
        self.params.update(params)

    def log_model(
        self,
        path: str | Path,
        *,
        params: dict[str, Any] | None = None,
        data: Iterable[str | DataRef] | None = None,
        parent: str | None = None,
        base_model: str | None = None,
        loader: str | None = None,
        card: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> ModelVersion:
        version = register_model(
            name or self.name,
            path,
            data=[*self.data, *(data or [])],
            params={**self.params, **(params or {})},
            seed=self.seed,
            parent=parent,
            base_model=base_model,
            lock=self.lock,
            loader=loader,
            card=card,
            code=self.code,
            manifest={
                **self._code_notes,
                "run_started_at": self.started_at,
                "run_logged_at": now(),
            },
            ledger=self.ledger,
        )
        self.versions.append(version)
        return version


def _apply_seed(seed: int) -> None:
    """Seed the generators the training code is likely using, so the recorded seed is the real one."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


@contextmanager
def run(
    name: str,
    seed: int | None = None,
    *,
    data: Iterable[str | DataRef] = (),
    params: dict[str, Any] | None = None,
    lock: str | Path | None = None,
    allow_dirty: bool = False,
    code_dir: str | Path | None = None,
    ledger: Ledger | None = None,
) -> Iterator[Run]:
    """Capture the run's environment up front (a dirty tree is refused before training starts,
    not after), seed the usual generators, and hand back a ``Run`` to log models with."""
    led = ledger or open_ledger()
    where = Path(code_dir) if code_dir else Path.cwd()
    if (reproducing := reproduce_mode.active()) is not None:
        # the worktree holds the recorded commit and diff, and the recorded seed is given
        code = models.get_version(led, reproducing).tuple.code
        notes: dict[str, Any] = {}
        seed = seed if seed is not None else reproduce_mode.seed()
    else:
        code, notes = capture_code(led, where, allow_dirty, [Path(lock)] if lock else [])
        recorded = command.from_argv(list(sys.argv), os.getcwd())
        if recorded is not None:
            notes = {**notes, command.KEY: recorded}
    chosen = seed if seed is not None else random.SystemRandom().randrange(2**31)
    _apply_seed(chosen)
    yield Run(
        led,
        name,
        seed=chosen,
        code=code,
        code_notes=notes,
        data=list(data),
        params=dict(params or {}),
        lock=Path(lock) if lock else None,
    )
