"""Nights 1-3 of the demo: append-only data, a training run per night through ``ml.run``, an eval
set, a lean gate with a protected slice, a refused candidate and two promotions (S2, S4, S12)."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
from pathlib import Path
from typing import Any

from modelledger.cli.demo import world
from modelledger.cli.demo.common import DemoFailed, Story, expect, note, py, run, say, short

APPROVER = "dana"
REQUESTER = "alice"
SEED = 7
CARD = world.CARD
DATASET_CARD = """\
sources:
  - {name: tms-shipments-export, owner: logistics-data, license: internal, pii: "customer_id (pseudonymous)"}
  - {name: carrier-scan-feed, owner: carrier-integrations, license: carrier data-sharing agreement, pii: false}
consent_basis: delivery contract
"""
NEW_SHARE = 0.12  # new routes are 12% of shipments
ROWS = 1500  # shipments a night
QUARANTINED = "date=2026-03-02"


def night_seed(night: int) -> int:
    return 18 + night


def partition(night: int) -> str:
    return f"date=2026-03-{night:02d}"


def _git(cwd: Path, *args: str) -> None:
    who = ["-c", "user.name=demo", "-c", "user.email=demo@example.com"]
    try:
        subprocess.run(["git", *who, *args], cwd=cwd, check=True, capture_output=True)
    except FileNotFoundError:
        raise DemoFailed("the demo keeps its training code in git: install git") from None


def start(base: Path) -> None:
    say("The delay team's training code is in git (train.py); the ledger lives beside it.")
    # train.py is the demo's own training module, so the commit each version records holds the
    # code that really trained it
    (base / "train.py").write_text(inspect.getsource(world))
    (base / "shipments-card.yaml").write_text(DATASET_CARD)
    # data, models and logs are the ledger's to keep; an untracked file git does not ignore
    # would count as code the commit does not hold
    (base / ".gitignore").write_text(
        "# only the code is in git: data, models and logs are in the ledger\n"
        "/*\n!/.gitignore\n!/train.py\n!/shipments-card.yaml\n"
    )
    _git(base, "init", "-q")
    _git(base, "add", ".gitignore", "train.py", "shipments-card.yaml")
    _git(base, "commit", "-qm", "delay model training")
    run("init")
    say(
        f"Approvals are signatures by people the ledger knows. {REQUESTER} trains and sets up "
        f"the ledger's identities; {APPROVER} approves what goes to production."
    )
    for who in (REQUESTER, APPROVER):
        run("identity", "keygen", "--out", key_of(who))
    run("identity", "init", REQUESTER, "--key", key_of(REQUESTER))
    run("identity", "add", APPROVER, "--role", "approver:production",
        "--public-key", key_of(APPROVER), "--key", key_of(REQUESTER))  # fmt: skip
    os.environ["MLEDGER_KEY"] = key_of(REQUESTER)  # the story is told as the requester


def key_of(who: str) -> str:
    return f"keys/{who}.pem"


def promote_approved(story: Story, ref: str, reason: str) -> None:
    """Request the promotion, then approve it as the approver: the move happens then."""
    from modelledger.releases.workflow import listing

    run("promote", ref, "--to", "production", "--reason", reason)
    pending = [s for s in listing(story.ledger, "production") if s.request.label == ref]
    expect(len(pending) == 1, f"one pending request for {ref}, found {len(pending)}")
    run("approve", pending[0].request.id[:15], "--key", key_of(APPROVER))


def snapshot_night(story: Story, night: int, rows: list[world.Shipment]) -> str:
    """Append tonight's partition (earlier ones are never rewritten) and snapshot them all."""
    from modelledger.data.snapshot import list_snapshots

    world.write_csv(story.base / "data" / partition(night) / "part.csv", rows)
    run("data", "snapshot", "data", "--name", "shipments", "--card", "shipments-card.yaml")
    ds = list_snapshots(story.ledger, "shipments")[0].id
    story.snapshots[night] = ds
    return ds


def _train(story: Story, night: int, ds: str, kinds: dict[str, str]) -> None:
    """One nightly run: train on the partitions snapshot ``ds`` holds and log each model."""
    from modelledger import client as ml
    from modelledger.data.snapshot import get_snapshot

    tree = story.ledger.blobs.get_tree(get_snapshot(story.ledger, ds).tree_sha256)
    parts = sorted(e.path.split("/")[0] for e in tree.entries)
    rows = world.read_csv(story.base / "data" / p / "part.csv" for p in parts)
    params = {"partitions": parts}
    with ml.run("delay", seed=SEED, data=[f"{ds}:train"], params=params, ledger=story.ledger) as r:
        for name, kind in kinds.items():
            model = world.fit(rows, kind, SEED)
            path = Path("models") / f"{name}-night{night}.joblib"
            path.parent.mkdir(exist_ok=True)
            importlib.import_module("joblib").dump(model, path)
            v = r.log_model(path, loader="joblib", card=CARD, name=name, params={"model": kind})
            _keep(story, f"{name}@{v.number}", v.id, model, f"{kind} on {len(rows):,} rows")


def _train_by_script(story: Story, night: int, ds: str) -> None:
    """The nightly job as a script, ``python train.py``: so the version records the command that
    made it, and `mledger reproduce` can run it again."""
    import sys

    from modelledger.models.reads import get_version

    out = f"models/delay-night{night}.joblib"
    done = subprocess.run(
        [sys.executable, "train.py", ds, out, str(SEED)],
        cwd=story.base, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise DemoFailed(f"train.py failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    v = get_version(story.ledger, done.stdout.strip().splitlines()[-1])
    model = importlib.import_module("joblib").load(story.base / out)
    _keep(story, f"delay@{v.number}", v.id, model, "tree, by `python train.py`")


def _keep(story: Story, label: str, version_id: str, model: Any, how: str) -> None:
    """Keep a trained version for the later chapters, and say what registering it recorded."""
    from modelledger.drift.profiles import latest_profile

    story.versions[label], story.models[label] = version_id, model
    found = latest_profile(story.ledger, version_id)
    expect(found is not None, f"{label} got no drift reference profile")
    assert found is not None
    note(
        f"registered {label}  {short(version_id)}  ({how}); drift "
        f"reference: {found[0].features} features from {found[0].rows:,} training rows"
    )


def _record(story: Story, label: str) -> tuple[float, float]:
    """Score ``label`` on the eval set with scikit-learn and record the real numbers."""
    rows = world.read_csv([story.base / "eval" / "shipments.csv"])
    overall, new_routes = world.accuracy(story.models[label], rows)
    run("eval", "record", label, "--eval-set", short(story.eval_set),
        "--metric", f"accuracy={overall}", "--slice", f"new_routes:accuracy={new_routes}")  # fmt: skip
    return overall, new_routes


def nights(story: Story) -> None:
    from modelledger import client as ml
    from modelledger.data.snapshot import list_snapshots
    from modelledger.evals.evaluate import list_eval_sets

    say("Night 1: the export appends a date partition; the snapshot pins every partition so far.")
    ds = snapshot_night(story, 1, world.shipments(night_seed(1), ROWS, new_share=NEW_SHARE))
    say("The nightly run trains a scikit-learn tree and logs it through the Python API.")
    py(
        f"# train.py, run each night as: python train.py {short(ds)} models/delay-night1.joblib 7\n"
        'with ml.run("delay", seed=seed, data=[f"{snapshot}:train"]) as run:\n'
        '    ml.checkout(snapshot, "train-data")   # the data, read through the ledger\n'
        "    model = fit(rows)                     # distance, carrier, route, weight → late\n"
        "    joblib.dump(model, out)\n"
        '    run.log_model(out, loader="joblib", card=CARD, params={"model": "tree"})\n'
        "# CARD: inputs {distance: float, carrier: category, route: category, weight: float},"
        " label: late"
    )
    _train_by_script(story, 1, ds)
    say(
        "The run recorded the whole tuple itself: code commit, data, params, seed, lock, "
        "hardware, and the command that ran."
    )
    run("model", "show", "delay@1")

    say(
        "A fixed eval set and a lean gate: overall within 0.03 of production, the protected slice "
        "new_routes within 0.02, one approver who is not the author."
    )
    world.write_csv(
        story.base / "eval" / "shipments.csv",
        world.shipments(100, 2000, customers=(100_000, 199_999), new_share=NEW_SHARE),
    )
    run("eval", "set", "create", "core-eval", "eval")
    story.eval_set = list_eval_sets(story.ledger, "core-eval")[0]["id"]
    (story.base / "gate.yaml").write_text(
        f"eval_set: {story.eval_set}\n"
        "metrics:\n  - {name: accuracy, min: 0.85, max_drop_vs_live: 0.03}\n"
        "protected_slices: {names: [new_routes], max_drop: 0.02}\n"
        "approvers: 1\nfour_eyes: true\nrequire: {lock: true, data_pinned: true}\n"
    )
    run("env", "policy", "production", "gate.yaml")
    _record(story, "delay@1")
    promote_approved(story, "delay@1", "first gated model")

    say(
        "Night 2: a feed bug judges new-route deliveries against the old routes' promise. "
        "Nobody notices; the run trains on it."
    )
    ds = snapshot_night(
        story, 2, world.shipments(night_seed(2), ROWS, new_share=NEW_SHARE, old_sla=True)
    )
    py(f'with ml.run("delay", seed={SEED}, data=["{short(ds)}:train"], ...) as run: ...')
    _train(story, 2, ds, {"delay": "tree"})
    _record(story, "delay@2")
    say("The aggregate holds; the protected slice does not. The gate says no, nothing moves.")
    run("gate", "check", "delay@2", "--env", "production", expect=1)
    report = ml.gate_check("delay@2", "production", ledger=story.ledger)
    failed = [c["name"] for c in report["criteria"] if not c["passed"]]
    expect(failed == ["slice new_routes accuracy vs live"], f"delay@2 failed the gate on {failed}")

    say(
        f"Night 3: the bug is found. Partition {QUARANTINED} stays in the append-only data but is "
        "filtered out of training, as a recorded step; a gradient-boosting challenger trains too."
    )
    ds = snapshot_night(story, 3, world.shipments(night_seed(3), ROWS, new_share=NEW_SHARE))
    kept = [f"data/{partition(n)}" for n in (1, 3)]
    run("data", "snapshot", *kept, "--name", "shipments-train", "--card", "shipments-card.yaml",
        "--from", short(ds), "--step", f"quarantine {QUARANTINED}: new routes judged by old SLA")  # fmt: skip
    ds = list_snapshots(story.ledger, "shipments-train")[0].id
    py(f'with ml.run("delay", seed={SEED}, data=["{short(ds)}:train"], ...) as run: ...')
    _train(story, 3, ds, {"delay": "tree", "delay-gbm": "gbm"})
    _record(story, "delay@3")
    _record(story, "delay-gbm@1")
    promote_approved(story, "delay@3", "night 3, bad labels out")


def rebuild(story: Story) -> None:
    """S12: the version rebuilt from its tuple alone, and checked bitwise."""
    say(
        "Months later an auditor asks: can delay@1 be rebuilt from what the ledger holds? "
        "A worktree at its commit, its data, its locked packages, its command and seed:"
    )
    run("reproduce", "delay@1")
