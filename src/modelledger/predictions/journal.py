"""The serving journal: answers made durable on local disk before they are returned.

Each serving process appends to segment files of its own (``<dir>/<env>/<time>-<pid>.jnl``,
frames of journal_frames.py), holding an exclusive ``flock`` on the one it writes. ``append``
hands records to one flusher thread, which writes everything handed to it since its last fsync
in one ``write`` and one ``fdatasync`` (group commit: concurrent requests share a sync) and then
completes each caller's future. Records are passed on to ``on_durable`` (the drainer) only once
durable, in order. A segment the drainer has emptied is deleted once a newer one is in use.

A segment no live process holds locked is an orphan (its process died): ``orphans`` reads it
back for replay; a torn tail (the unacknowledged last write of a crash) is cut off, damage in
the middle is kept aside as ``.damaged`` after what could be read was replayed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from modelledger.blobs.durable import fsync_path, write_all
from modelledger.core.errors import MledgerError
from modelledger.predictions import journal_frames as jf

log = logging.getLogger(__name__)

SEGMENT_BYTES = 64 << 20
SUFFIX = ".jnl"


class JournalUnavailable(MledgerError):
    """The journal cannot make a record durable (disk full, I/O error, closed): the request
    is refused (HTTP 503) rather than answered unlogged."""


@dataclass
class Segment:
    path: Path
    fd: int
    end: int  # bytes written and synced
    records: int = 0  # records durable in it
    drained: int = 0  # of those, written to the ledger
    current: bool = True


Durable = Callable[[Segment, list[bytes]], None]


class Journal:
    def __init__(
        self,
        directory: Path,
        on_durable: Durable,
        *,
        segment_bytes: int = SEGMENT_BYTES,
        on_fsync: Callable[[float], None] | None = None,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._on_durable = on_durable
        self._on_fsync = on_fsync
        self._cond = threading.Condition()
        self._pending: list[tuple[list[bytes], Future[None]]] = []
        self._closing = False
        self._writing = 0
        self._segments: list[Segment] = []
        self.fsyncs = 0
        self.failures = 0
        self.last_error: str | None = None
        self._open_segment()
        self._thread = threading.Thread(target=self._run, name="mledger-journal", daemon=True)
        self._thread.start()

    # -- writing ----------------------------------------------------------------------------------
    def append(self, payloads: list[bytes]) -> Future[None]:
        """Queue records; the future completes once they are on disk (or fails: not durable)."""
        done: Future[None] = Future()
        with self._cond:
            if self._closing:
                done.set_exception(JournalUnavailable("the journal is closed"))
                return done
            self._pending.append((payloads, done))
            self._cond.notify()
        return done

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                group, self._pending = self._pending, []
                self._writing = 1
            try:
                self._write(group)
            finally:
                with self._cond:
                    self._writing = 0

    def _write(self, group: list[tuple[list[bytes], Future[None]]]) -> None:
        seg = self._segments[-1]
        data = b"".join(jf.frames(payloads) for payloads, _ in group)
        started = time.perf_counter()
        try:
            write_all(seg.fd, data)
            os.fdatasync(seg.fd)
        except OSError as exc:
            self.failures += 1
            self.last_error = _why(exc)
            _cut_back(seg)  # a partial write must not stay as a torn frame before later ones
            failure = JournalUnavailable(
                f"the serving journal cannot be written: {self.last_error}"
            )
            for _, done in group:
                done.set_exception(failure)
            return
        if self._on_fsync is not None:
            self._on_fsync(time.perf_counter() - started)
        self.fsyncs += 1
        seg.end += len(data)
        records = [p for payloads, _ in group for p in payloads]
        seg.records += len(records)
        self._on_durable(seg, records)
        for _, done in group:
            done.set_result(None)
        if seg.end >= self.segment_bytes:
            self._rotate()

    # -- segments ---------------------------------------------------------------------------------
    def _open_segment(self) -> None:
        name = f"{time.time_ns():020d}-{os.getpid()}{SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours while this process lives
            write_all(fd, jf.HEADER)
            os.fdatasync(fd)
            fsync_path(str(self.directory))  # the segment's name survives a crash
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        with self._cond:
            for old in self._segments:
                old.current = False
            self._segments.append(Segment(path, fd, len(jf.HEADER)))
        self._collect()

    def _rotate(self) -> None:
        try:
            self._open_segment()
        except OSError as exc:  # keep writing the full one rather than refuse requests
            log.error("cannot start a new journal segment: %s", _why(exc))

    def drained(self, seg: Segment, n: int) -> None:
        """The drainer wrote ``n`` more records of ``seg`` to the ledger."""
        with self._cond:
            seg.drained += n
        self._collect()

    def _collect(self) -> None:
        """Delete the segments no longer written whose records are all in the ledger."""
        with self._cond:
            done = [s for s in self._segments if not s.current and s.drained >= s.records]
            self._segments = [s for s in self._segments if s not in done]
        for seg in done:
            seg.path.unlink(missing_ok=True)
            os.close(seg.fd)

    @property
    def pending(self) -> int:
        """Groups handed to ``append`` and not yet written."""
        with self._cond:
            return len(self._pending) + self._writing

    @property
    def backlog(self) -> int:
        with self._cond:
            return sum(s.records - s.drained for s in self._segments)

    @property
    def segments(self) -> int:
        with self._cond:
            return len(self._segments)

    def stop(self) -> None:
        """Write what is queued, then refuse more (the segments stay open and locked)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    def finish(self) -> None:
        """After ``stop``: delete the segments whose records are all in the ledger; the rest
        stay for the next start to replay."""
        with self._cond:
            segments, self._segments = self._segments, []
        for seg in segments:
            if seg.drained >= seg.records:
                seg.path.unlink(missing_ok=True)
            os.close(seg.fd)


def _cut_back(seg: Segment) -> None:
    with contextlib.suppress(OSError):  # the scan at replay cuts a torn tail all the same
        os.ftruncate(seg.fd, seg.end)


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    return exc.strerror or str(exc)


# -- replay -----------------------------------------------------------------------------------------
@dataclass
class Orphan:
    """A dead process's segment, locked by us while it is replayed."""

    path: Path
    fd: int
    scan: jf.Scan

    def done(self) -> None:
        """Its records are in the ledger: delete it (or keep a damaged one aside)."""
        if self.scan.damaged:
            self.path.rename(self.path.with_suffix(".damaged"))
        else:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)

    def release(self) -> None:
        os.close(self.fd)


def orphans(directory: Path) -> Iterator[Orphan]:
    """Segments no live process holds, oldest first, each locked while the caller has it."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # replayed by another process meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live process writes it
        if not path.exists():  # replayed and deleted between our open and our lock
            os.close(fd)
            continue
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read()
        found = jf.scan(data)
        if found.torn:
            log.warning(
                "%s: %d byte(s) of an interrupted write at its end dropped (never acknowledged)",
                path.name,
                found.torn,
            )
            os.ftruncate(fd, found.end)
        if found.damaged:
            log.error(
                "%s: damaged after %d record(s); those are replayed, the file is kept as .damaged",
                path.name,
                len(found.payloads),
            )
        yield Orphan(path, fd, found)
