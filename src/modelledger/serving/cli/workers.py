"""``mledger serve --workers N``: N processes answering on one listening socket.

The parent binds the socket and forks the workers before anything else is opened (no ledger
connection, no thread crosses a fork); each worker opens the ledger, builds its server and
journal, and runs uvicorn on the inherited socket, so the kernel spreads connections among them.
Request ids are claimed through the ledger (predictions/claims.py), so one id gets one answer
whichever worker takes it. SIGTERM or SIGINT to the parent is passed to every worker, each of
which answers what is in flight and drains its journal. A worker that dies otherwise is started
again; its successor replays the journal it left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

RESTART_PAUSE = 1.0  # between restarts of a worker that keeps dying, so a crash loop stays cheap


def supervise(
    workers: int,
    sock: socket.socket,
    run_worker: Callable[[int], int],
    on_ready: Callable[[bytes], None],
) -> int:
    """Run ``run_worker(ready_fd)`` in ``workers`` forked processes; ``on_ready`` gets the first
    worker's start-up line once it is serving. Returns the exit status for the parent."""
    stopping = {"signal": 0}
    children: dict[int, int] = {}  # pid → slot
    announced = False

    def forward(signum: int, _frame: object) -> None:
        stopping["signal"] = signum
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def spawn(slot: int) -> tuple[int, int]:
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(read_fd)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            code = 1
            try:
                code = run_worker(write_fd)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:
                print(f"error: worker {slot}: {exc}", file=sys.stderr)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
        os.close(write_fd)
        children[pid] = slot
        return pid, read_fd

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        ready = [spawn(slot) for slot in range(workers)]
        for _, fd in ready:
            with os.fdopen(fd, "rb") as pipe:
                line = pipe.read()  # the worker's start-up line, or nothing if it failed
            if line and not announced:
                on_ready(line)
                announced = True
        if not announced:
            stopping["signal"] = stopping["signal"] or signal.SIGTERM
            forward(signal.SIGTERM, None)
        status = 0
        while children:
            try:
                pid, code = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            slot = children.pop(pid, None)
            if slot is None:
                continue
            if stopping["signal"]:
                continue
            print(
                f"worker {slot} (pid {pid}) ended ({_how(code)}); starting another",
                file=sys.stderr,
            )
            time.sleep(RESTART_PAUSE)
            if stopping["signal"]:
                continue
            _, fd = spawn(slot)
            os.close(fd)
        if not announced:
            status = 1
        return status
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
