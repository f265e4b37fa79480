"""``mledger demo``: the story so far, played with the real commands on a fresh ledger."""

from __future__ import annotations

import os
import pickle
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import typer


def _say(text: str) -> None:
    typer.secho(f"\n# {text}", fg="cyan", bold=True)


def _run(*args: str) -> None:
    from modelledger.cli.app import app

    typer.secho("$ " + shlex.join(["mledger", *args]), fg="green")
    try:
        code = app(list(args), prog_name="mledger", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code
    if code:  # a command that exits non-zero on purpose (a failed check)
        typer.echo(f"(exit {code})")


class DemoModel:
    """A stand-in model: picklable, importable by the rehearsal's fresh process."""

    def __init__(self, night: int) -> None:
        self.night = night

    def predict(self, rows: list[dict[str, float]]) -> list[int]:
        return [int(r.get("distance", 0) > 100 + self.night) for r in rows]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def run_demo(directory: Path | None, keep: bool) -> None:
    base = Path(directory or tempfile.mkdtemp(prefix="mledger-demo-")).resolve()
    base.mkdir(parents=True, exist_ok=True)
    old_cwd = Path.cwd()
    os.chdir(base)
    try:
        _say("A team's training code lives in git; the ledger lives beside it.")
        (base / "train.py").write_text("# trains the delay model\n")
        _git(base, "init", "-q")
        _git(base, "-c", "user.name=demo", "-c", "user.email=demo@example.com", "add", "train.py")
        _git(
            base,
            "-c",
            "user.name=demo",
            "-c",
            "user.email=demo@example.com",
            "commit",
            "-qm",
            "train",
        )
        _run("init")

        _say("Night 1: the training data is snapshotted (content-addressed, immutable).")
        data = base / "data" / "2026-03-01"
        data.mkdir(parents=True)
        (data / "shipments.csv").write_text("id,carrier,delay\n1,ups,0\n2,dhl,1\n3,ups,0\n")
        _run("data", "snapshot", "data/2026-03-01", "--name", "shipments")
        from modelledger.services.ledger import open_ledger
        from modelledger.services.snapshot import list_snapshots

        with open_ledger() as ledger:
            ds = list_snapshots(ledger)[0].id

        _say("The run registers its model: code commit, data, lock, params, seed, hardware.")
        (base / "model.pkl").write_bytes(pickle.dumps({"weights": [0.1, 0.2], "night": 1}))
        register = (
            "model",
            "register",
            "delay",
            "--artifact",
            "model.pkl",
            "--data",
            f"{ds}:train",
        )
        _run(*register, "--param", "lr=0.1", "--param", "depth=6", "--seed", "7")
        _say("Registering the same tuple again is not a duplicate: it is the same version.")
        _run(*register, "--param", "depth=6", "--param", "lr=0.1", "--seed", "7")

        _say(
            "An old model whose training data was overwritten: frozen as irreproducible, not guessed."
        )
        (base / "delay_model_2024_03_final_v2.pkl").write_bytes(pickle.dumps({"legacy": True}))
        _run(
            "model",
            "register",
            "delay-legacy",
            "--artifact",
            "delay_model_2024_03_final_v2.pkl",
            "--irreproducible",
            "--reason",
            "training table overwritten in place",
        )

        _say("Read it back and verify the artifact against its sha256.")
        _run("model", "show", "delay@1")
        _run("model", "verify", "delay@1")
        _release_story(base, ds)

        _say("Every change is an event in a hash chain; verify it has not been tampered with.")
        _run("audit", "log", "--env", "production")
        _run("audit", "verify")
    finally:
        os.chdir(old_cwd)
    if keep or directory is not None:
        typer.secho(f"\nThe ledger is in {base / '.mledger'}. Explore it:", bold=True)
        typer.echo(f"  cd {base}\n  mledger model lineage delay@1\n  mledger audit log --json")
    else:
        shutil.rmtree(base, ignore_errors=True)
        typer.echo(
            "\n(demo folder removed; run `mledger demo --keep` to explore the ledger afterwards)"
        )


def _release_story(base: Path, ds: str) -> None:
    """Nights 2-4, an eval set, a gate with a protected slice, promotion, rehearsal, rollback."""
    from modelledger.services.evaluate import list_eval_sets
    from modelledger.services.ledger import open_ledger

    _say(
        "Nights 2-4 each produce a model that declares how it loads (and its inputs, in its card)."
    )
    for night in (2, 3, 4):
        (base / f"model-{night}.pkl").write_bytes(pickle.dumps(DemoModel(night)))
        _run(
            "model", "register", "delay", "--artifact", f"model-{night}.pkl", "--loader", "pickle",
            "--data", f"{ds}:train", "--param", f"night={night}", "--seed", "7",
        )  # fmt: skip
    card = base / "card.yaml"
    card.write_text("inputs: {distance: float, carrier: category}\nintended_use: demo\n")
    for night in (2, 3, 4):
        _run("model", "card", f"delay@{night}", "--set", str(card))

    _say("A fixed eval set, and a lean gate: no regression overall or on new routes.")
    (base / "eval").mkdir()
    (base / "eval" / "holdout.csv").write_text("id,carrier,delay\n10,ups,0\n11,dhl,1\n")
    _run("eval", "set", "create", "core-eval", "eval")
    with open_ledger() as ledger:
        eval_set = list_eval_sets(ledger)[0]["id"]
    (base / "gate.yaml").write_text(
        f"eval_set: {eval_set}\n"
        "metrics:\n  - {name: auc, min: 0.80, max_drop_vs_live: 0.01}\n"
        "protected_slices: {names: [new_routes], max_drop: 0.02}\n"
        "approvers: 1\nfour_eyes: true\nrequire: {lock: true, data_pinned: true}\n"
    )
    _run("env", "policy", "production", "gate.yaml")
    for night, auc, new_routes in ((2, "0.90", "0.85"), (3, "0.93", "0.79"), (4, "0.92", "0.86")):
        _run("eval", "record", f"delay@{night}", "--eval-set", eval_set,
             "--metric", f"auc={auc}", "--slice", f"new_routes:auc={new_routes}")  # fmt: skip

    _say("Night 2 goes live, approved by someone who is not its author.")
    _run("promote", "delay@2", "--to", "production", "--approver", "dana", "--reason", "first")
    _say("Night 3 is better overall but worse on new routes: the gate says no.")
    _run("gate", "check", "delay@3", "--env", "production")
    _say("Night 4 fixes it and passes.")
    _run("promote", "delay@4", "--to", "production", "--approver", "dana")
    _run("env", "show", "production")

    _say("Rehearse the rollback (loads both versions in a fresh process), then roll back.")
    _run("rehearse", "production")
    _run("rollback", "production", "--approver", "dana", "--reason", "pager: late deliveries")
    _run("env", "history", "production")
