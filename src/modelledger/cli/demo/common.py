"""What every chapter of ``mledger demo`` shares: the narrator, the command runner and the story's
state (ids, trained models, served answers)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from modelledger.core.errors import MledgerError
from modelledger.ledger.home import Ledger


class DemoFailed(MledgerError):
    """A step did not turn out as the story says: stop rather than narrate something untrue."""

    exit_code = 1


def say(text: str) -> None:
    """Narration: what the next commands are for."""
    typer.secho(f"\n# {text}", fg="cyan", bold=True)


def note(text: str) -> None:
    """A result the demo measured or read back from the ledger itself."""
    typer.secho(f"  → {text}", fg="yellow")


def py(code: str) -> None:
    """Show the Python the demo runs through the public API (``import modelledger as ml``)."""
    for i, line in enumerate(code.strip("\n").splitlines()):
        typer.secho(("$ python: " if i == 0 else "          ") + line, fg="green")


# The command line the story runs: the root hands itself over when it starts the demo, which is
# one of its own commands (importing it from here would make the two import each other).
_cli: list[Callable[..., Any]] = []


def play_on(app: Callable[..., Any]) -> None:
    _cli[:] = [app]


def run(*args: str, expect: int = 0) -> int:
    """Run ``mledger ARGS`` in-process, printing the command first; the exit code must be
    ``expect`` (the demo shows refusals on purpose, never by accident)."""
    (app,) = _cli
    typer.secho("$ " + shlex.join(["mledger", *args]), fg="green")
    try:
        code = app(list(args), prog_name="mledger", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code
    code = int(code or 0)
    if code:  # a command that exits non-zero on purpose (a failed check)
        typer.echo(f"(exit {code})")
    if code != expect:
        raise DemoFailed(f"demo: `mledger {shlex.join(args)}` exited {code}, expected {expect}")
    return code


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise DemoFailed(f"demo: {what}")


def short(full_id: str) -> str:
    """``ds-``/``mv-``/``sys-`` and 12 hex digits: a unique prefix every command accepts."""
    kind, _, digits = full_id.partition("-")
    return f"{kind}-{digits[:12]}"


@dataclass
class Story:
    base: Path
    ledger: Ledger
    snapshots: dict[int, str] = field(default_factory=dict)  # night → ds- id of shipments
    versions: dict[str, str] = field(default_factory=dict)  # NAME@N → mv- id
    models: dict[str, Any] = field(default_factory=dict)  # NAME@N → fitted pipeline
    eval_set: str = ""
    served: list[dict[str, Any]] = field(default_factory=list)  # the server's answers
    deleted_customer: str = ""
