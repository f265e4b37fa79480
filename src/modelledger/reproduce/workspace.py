"""Building a reproduction's workspace: a git worktree at the recorded commit (the recorded diff
applied), the data snapshots checked out, and an interpreter with the recorded packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from modelledger.capture.lock import frozen_environment
from modelledger.core.errors import CheckFailed

SELF = "modelledger"  # this package: put on the path, not installed from an index


def git(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False)


def has_commit(root: Path, commit: str) -> bool:
    if not (root / ".git").exists():
        return False
    return git("cat-file", "-e", f"{commit}^{{commit}}", cwd=root).returncode == 0


def worktree(root: Path, commit: str, dest: Path, diff: bytes | None) -> None:
    done = git("worktree", "add", "--detach", str(dest), commit, cwd=root)
    if done.returncode != 0:
        raise CheckFailed(f"git worktree at {commit[:12]}: {_last(done.stderr)}")
    if diff:
        applied = git("apply", "--binary", "--whitespace=nowarn", "-", cwd=dest, stdin=diff)
        if applied.returncode != 0:
            raise CheckFailed(f"the recorded diff does not apply: {_last(applied.stderr)}")


def remove_worktree(root: Path, dest: Path) -> None:
    git("worktree", "remove", "--force", str(dest), cwd=root)


def interpreter(lock: bytes, dest: Path, offline: bool) -> tuple[str, str]:
    """An interpreter with the lock's packages, and how it was had: this one when its packages
    are exactly the lock's, else a fresh virtualenv with the lock installed (``--no-deps``: a
    lock names every package). This package itself goes on the path, not through the index."""
    if lock == frozen_environment():
        return sys.executable, "this interpreter (its packages are exactly the recorded lock)"
    venv = dest / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True)
    if made.returncode != 0:
        raise CheckFailed(f"could not make a virtualenv: {_last(made.stderr)}")
    pins = [line for line in lock.decode().splitlines() if line and not line.startswith(SELF + "=")]
    wanted = dest / "lock.txt"
    wanted.write_text("\n".join(pins) + "\n")
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "-q"]
    installed = subprocess.run(
        [*pip, *(["--no-index"] if offline else []), "-r", str(wanted)], capture_output=True
    )
    if installed.returncode != 0:
        raise CheckFailed(f"the recorded lock cannot be installed here: {_last(installed.stderr)}")
    return python, f"a new virtualenv with the {len(pins)} locked packages"


def pythonpath(extra: Path) -> str:
    """This package's folder first (a fresh virtualenv does not have it), then ``extra``."""
    here = str(Path(__file__).resolve().parents[2])
    rest = os.environ.get("PYTHONPATH")
    return os.pathsep.join([here, str(extra), *([rest] if rest else [])])


def _last(stderr: bytes) -> str:
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"
