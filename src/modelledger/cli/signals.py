"""SIGTERM ends a command the way Ctrl-C does: by an exception raised in the main thread, so
that every ``finally`` and discard path runs (staged blobs dropped, temp files removed, the
transaction rolled back) before the process exits. Left to its default, SIGTERM — what
systemd, Kubernetes and CI runners send — kills the process on the spot and leaves its temp
files in the store for good.

Once everything has been cleaned up (the last thing at exit), the process ends by SIGTERM's
default action after all, so whoever sent it sees the process was terminated by it (a shell
shows 143, a supervisor "killed by SIGTERM", which systemd counts as a clean stop) rather than
an exit status of our choosing."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from types import FrameType

EXIT_CODE = 128 + signal.SIGTERM  # where the process cannot die by the signal itself


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM. A SystemExit, like KeyboardInterrupt no Exception:
    handlers of errors let it through and cleanup still runs."""


_state = {"terminated": False}


def install() -> None:
    """Make SIGTERM raise Terminated in the main thread (only there can a handler be set)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        # registered first, so run last: after every other exit handler has cleaned up
        atexit.register(_die_by_sigterm)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # a second SIGTERM must not interrupt the cleanup the first one started
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _state["terminated"] = True
    raise Terminated(EXIT_CODE)


def _die_by_sigterm() -> None:
    if not _state["terminated"]:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or its reader gone
            stream.flush()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
