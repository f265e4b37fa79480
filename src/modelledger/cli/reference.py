"""Render docs/cli.md from the real ``--help`` of every command (``make docs`` writes it; a test
fails when it is stale)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from typer.main import get_command
from typer.testing import CliRunner

from modelledger.cli.app import app

HEADER = """# CLI reference

Generated from `mledger … --help` by `make docs`; `tests/cli/test_reference.py` fails when it is
stale. Every command takes `--json` for machine-readable output. Exit codes: 0 ok, 1 a check
failed (verify, gate, a drift alert), 2 bad usage or input, 3 nothing to act on (a feedback file
that names no logged request, a drift check that could judge no signal).
"""


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():
        yield from _paths(sub, (*prefix, name))


def render() -> str:
    runner = CliRunner()
    env = {"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
    parts = [HEADER]
    for path in _paths(get_command(app)):
        result = runner.invoke(app, [*path, "--help"], env=env, prog_name="mledger")
        text = "\n".join(line.rstrip() for line in result.stdout.splitlines()).strip("\n")
        title = " ".join(("mledger", *path))
        parts.append(f"## `{title}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
