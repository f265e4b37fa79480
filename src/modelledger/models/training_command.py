"""The training command a version records (``training_command`` in its manifest), and how to run
it again in a reproduction's worktree. Pure: paths are computed, never touched."""

from __future__ import annotations

import os
import shlex
from pathlib import PurePath
from typing import Any

KEY = "training_command"


def from_argv(argv: list[str], cwd: str) -> dict[str, Any] | None:
    """What ``ml.run`` records of ``sys.argv``: the script relative to the working directory;
    None when there is no script to run again."""
    if not argv or not argv[0].endswith(".py"):
        return None  # not a script: python -c, a notebook, or a tool (``mledger demo``) training
    script = argv[0]
    if os.path.isabs(script) and PurePath(script).is_relative_to(cwd):
        script = os.path.relpath(script, cwd)
    return {"python": [script, *argv[1:]], "cwd": cwd}


def from_shell(text: str, cwd: str) -> dict[str, Any]:
    """What ``model register --command`` records."""
    return {"shell": text, "cwd": cwd}


def describe(command: dict[str, Any]) -> str:
    if "shell" in command:
        return str(command["shell"])
    return shlex.join(["python", *command["python"]])


def relative_cwd(command: dict[str, Any], git_root: str | None) -> str | None:
    """The working directory relative to the repository's root; None when it was outside."""
    cwd = str(command.get("cwd") or "")
    if git_root is None or not PurePath(cwd).is_relative_to(git_root):
        return None
    return os.path.relpath(cwd, git_root)


def argv_for(command: dict[str, Any], python: str) -> list[str]:
    """The command to run with ``python`` standing for the recorded interpreter."""
    if "shell" in command:
        words = shlex.split(str(command["shell"]))
        if words and PurePath(words[0]).name.startswith("python"):
            words[0] = python
        return words
    return [python, *command["python"]]
