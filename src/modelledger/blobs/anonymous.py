"""Unnamed files in a directory (Linux ``O_TMPFILE``), the next one made ahead on a worker thread.

Creating a file is the dearest single step of storing a small artifact on some filesystems
(ext4 spends more kernel CPU on the create than a registration spends on its SQL), so the next
file is made while the caller does other work. An unnamed file gets
its name only when linked into place and vanishes when closed or when the process dies: neither
a refused registration nor a crash leaves a temp file behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import weakref
from concurrent.futures import Future

from modelledger.core.workers import ProcessPool

_PROC_FD = "/proc/self/fd"
# what open(2) answers where a filesystem or kernel has no unnamed files
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT}


class AnonymousFiles:
    def __init__(self, directory: str, pool: ProcessPool) -> None:
        self.directory = directory
        self._pool = pool
        self._lock = threading.Lock()
        self._spares: list[Future[int]] = []  # at most one; a list so the finalizer sees it
        self._pid = os.getpid()
        self._dir_fd: int | None = None
        self._supported = hasattr(os, "O_TMPFILE") and os.path.isdir(_PROC_FD)
        weakref.finalize(self, _release, self._spares)

    def take(self) -> int | None:
        """An open, empty, unnamed file in the directory; None where there are none to be had
        (the caller falls back to a named temp file)."""
        if not self._supported:
            return None
        with self._lock:
            spare = self._spares.pop() if self._spares else None
            if spare is not None and os.getpid() != self._pid:
                # a forked child: the worker making it may be gone with the parent
                _release([spare])
                spare, self._pid = None, os.getpid()
            fd = None
            if spare is not None:
                with contextlib.suppress(OSError):
                    fd = spare.result()
            if fd is None:
                try:
                    fd = self._make()
                except OSError as exc:
                    if exc.errno not in _UNSUPPORTED:
                        raise
                    self._supported = False
                    return None
            self._spares.append(self._pool.submit(self._make))
            return fd

    def release(self) -> None:
        """Close the file made ahead, if any (another is made at the next ``take``)."""
        with self._lock:
            _release(self._spares)
            self._spares.clear()

    def link(self, fd: int, path: str) -> None:
        """Name the unnamed file ``fd`` ``path`` (FileExistsError if that name is taken)."""
        if self._dir_fd is None:
            # any directory descriptor makes os.link use linkat(2), which can follow /proc links
            self._dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            weakref.finalize(self, os.close, self._dir_fd)
        os.link(f"{_PROC_FD}/{fd}", path, src_dir_fd=self._dir_fd, follow_symlinks=True)

    def _make(self) -> int:
        return os.open(self.directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)


def _close(made: Future[int]) -> None:
    if made.exception() is None:
        os.close(made.result())


def _release(spares: list[Future[int]]) -> None:
    for spare in spares:
        spare.add_done_callback(_close)  # at once if made already
