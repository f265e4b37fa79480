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
        app(list(args), prog_name="mledger", standalone_mode=False)
    except SystemExit as exc:  # a command that exits non-zero on purpose (a failed check)
        if exc.code:
            typer.echo(f"(exit {exc.code})")


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

        _say("Read it back, verify the artifact, and check the ledger has not been tampered with.")
        _run("model", "show", "delay@1")
        _run("model", "list")
        _run("model", "verify", "delay@1")
        _run("audit", "log")
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
