"""Loading a model in a child interpreter (``python -m modelledger.models.load_check``), so a
model that crashes, hangs or pollutes the process cannot take the caller down with it.

**Nothing here verifies hashes.** Unpickling runs arbitrary code: callers verify the artifact's
bytes against the version's sha256 before asking for a load — never load an unverified pickle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelledger.models.loader import parse_loader


@dataclass(frozen=True)
class LoadCheck:
    """The answer of a load attempted in a child process.

    ``detail`` is the loaded object's type (``module.Class``) when ``ok``, else the error.
    ``seconds`` is the load time the child measured when it reported one, else the wall time of
    the whole attempt (timeout, crash, unreadable output).
    """

    ok: bool
    detail: str
    seconds: float
    interface: tuple[str, ...] = ()


def _child_pythonpath(cwd: Path | None) -> str:
    """The parent's import path for the child: cwd first, then sys.path minus the interpreter's own.

    Entries under the interpreter's prefixes (stdlib, site-packages) are left out: the child finds
    them itself, and putting site-packages ahead of the stdlib could let a package shadow it.
    """
    here = os.getcwd()
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    prefixes.discard(os.path.realpath(os.sep))
    entries: list[str] = [str(cwd.resolve()) if cwd is not None else here]
    for entry in sys.path:
        absolute = os.path.abspath(os.path.join(here, entry)) if entry else here
        real = os.path.realpath(absolute)
        if any(real == p or real.startswith(p + os.sep) for p in prefixes):
            continue
        if absolute not in entries:
            entries.append(absolute)
    return os.pathsep.join(entries)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill the child's process group and reap it, without waiting on pipes a stray holds open."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except OSError:
        proc.kill()
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # a grandchild left the group and keeps the pipes open
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()


def load_in_subprocess(
    loader: str, path: Path, timeout: float = 120.0, cwd: Path | None = None
) -> LoadCheck:
    """Load ``path`` with ``loader`` in a child interpreter and report whether it can predict.

    The child sees the parent's import path (and ``cwd``) through PYTHONPATH, so a ``python:``
    factory importable here is importable there. A hang past ``timeout`` seconds kills the child
    (and anything it started); a crash reports the last line of its stderr. The caller must have
    verified the artifact's bytes first (see the module docstring).
    """
    parse_loader(loader)  # bad usage is the caller's error, not a failed check
    env = dict(os.environ)
    env["PYTHONPATH"] = _child_pythonpath(cwd)
    # Absolute, so a relative path means the same file for the child running in ``cwd``.
    target = str(Path(path).absolute())
    command = [sys.executable, "-m", "modelledger.models.load_check", loader, target]
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,  # its own process group, so a timeout kills its children too
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return LoadCheck(False, f"did not load within {timeout:g}s", _since(started))
    except BaseException:
        _kill_group(proc)
        raise
    elapsed = _since(started)
    report = _parse_report(stdout)
    if report is None:
        return LoadCheck(False, _no_report(proc.returncode, stdout, stderr), elapsed)
    seconds = report.get("seconds")
    seconds = float(seconds) if isinstance(seconds, int | float) else elapsed
    if report.get("ok") is True and proc.returncode == 0:
        interface = tuple(str(name) for name in report.get("interface") or ())
        return LoadCheck(True, str(report.get("type", "")), seconds, interface)
    error = report.get("error") or _no_report(proc.returncode, stdout, stderr)
    return LoadCheck(False, str(error), seconds)


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 4)


def _parse_report(stdout: str) -> dict[str, Any] | None:
    """The last stdout line that is a JSON object with an ``ok`` key (the child's report)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "ok" in value:
            return value
    return None


def _no_report(returncode: int, stdout: str, stderr: str) -> str:
    if returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"was killed by signal {-returncode}"
    elif returncode != 0:
        how = f"exited with code {returncode}"
    else:
        how = "printed no JSON result"
    last = _last_line(stderr) or _last_line(stdout)
    return f"load check {how}" + (f": {last}" if last else "")
