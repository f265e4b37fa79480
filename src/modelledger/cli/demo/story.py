"""``mledger demo``: the story, played with the real commands on a fresh ledger.

A forecasting team's shipment-delay model, night by night: append-only data and a training run
per night (S2), a lean gate with a protected slice (S4), a canary and a shadow on a real server
(S10), an upstream data change caught by a diff and by drift on the protected slice (S6, S14), a
rehearsed rollback (S5), the auditor's question (S1, S9), a deletion request (S15), a decomposed
fine-tune (S7), a composite RAG system (S11) and a version rebuilt from its tuple (S12). The
chapters live in ``demo/*.py``; the synthetic world and its scikit-learn models in
``demo/world.py``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from modelledger.core.errors import InvalidInput, MledgerError

# Settings that would point the demo at another ledger than the fresh one it builds.
_ELSEWHERE = ("MLEDGER_HOME", "MLEDGER_DB_URL", "MLEDGER_BLOB_URL", "MLEDGER_KEY")


class NeedsScikitLearn(MledgerError):
    exit_code = 2


def _require_sklearn() -> None:
    from importlib.util import find_spec

    if find_spec("sklearn") is None:
        raise NeedsScikitLearn(
            "the demo trains scikit-learn models: pip install 'modelledger[demo]'"
        )


@contextmanager
def _inside(base: Path) -> Iterator[None]:
    """Work in ``base`` with no MLEDGER_* setting pointing elsewhere; restore both afterwards."""
    old_cwd = Path.cwd()
    saved = {k: os.environ.pop(k) for k in _ELSEWHERE if k in os.environ}
    wide = "COLUMNS" not in os.environ and not sys.stdout.isatty()
    if wide:  # a log or a pipe: tables as wide as a terminal's, not folded into 80 columns
        os.environ["COLUMNS"] = "120"
    os.chdir(base)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        os.environ.pop("MLEDGER_KEY", None)  # the requester's, set by the story
        os.environ.update(saved)
        if wide:
            del os.environ["COLUMNS"]


def run_demo(directory: Path | None, keep: bool, cli: Callable[..., Any]) -> None:
    """Play the story in ``directory`` (a new temporary folder by default) on ``cli``, the
    ``mledger`` command line."""
    _require_sklearn()
    from modelledger.cli.demo import incident as demo_incident
    from modelledger.cli.demo import lineage as demo_lineage
    from modelledger.cli.demo import release as demo_release
    from modelledger.cli.demo import serving as demo_serving
    from modelledger.cli.demo.common import Story, play_on, run, say
    from modelledger.ledger.home import open_ledger

    play_on(cli)
    if directory is not None and directory.exists() and any(directory.iterdir()):
        raise InvalidInput(f"demo: {directory} is not empty; the story needs a fresh folder")
    started = time.perf_counter()
    base = Path(directory or tempfile.mkdtemp(prefix="mledger-demo-")).resolve()
    base.mkdir(parents=True, exist_ok=True)
    try:
        with _inside(base):
            demo_release.start(base)
            with open_ledger() as ledger:
                story = Story(base, ledger)
                demo_release.nights(story)
                demo_serving.serving(story)
                demo_incident.night4(story)
                demo_incident.audit_and_delete(story)
                demo_lineage.finetune(story)
                demo_lineage.rag(story)
                demo_release.rebuild(story)
            say("Every change above is an event in one hash chain: verify nobody rewrote it.")
            run("audit", "verify")
    except BaseException:
        if not (keep or directory is not None):
            shutil.rmtree(base, ignore_errors=True)
        raise
    typer.secho(f"\nThe demo took {time.perf_counter() - started:.1f} s.", bold=True)
    if keep or directory is not None:
        typer.secho(f"The ledger is in {base / '.mledger'}. Explore it:", bold=True)
        if shutil.which("mledger") is None:  # run as `make demo`: the venv is not on PATH
            typer.echo(f"  export PATH={Path(sys.executable).parent}:$PATH")
        typer.echo(
            f"  cd {base}\n"
            "  mledger env history production\n"
            "  mledger model lineage delay@3\n"
            "  mledger audit log --env production"
        )
    else:
        shutil.rmtree(base, ignore_errors=True)
        typer.echo(
            "(demo folder removed; run `mledger demo --keep` to explore the ledger afterwards)"
        )
