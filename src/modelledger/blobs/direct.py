"""Storing a small file's bytes around the page cache (``O_DIRECT``), from a buffer that is also
hashed.

A kernel copy of a small artifact into the page cache allocates and tracks every page of the
copy, and the hash of the copy can only start once the copy is done. Read once into
an aligned buffer instead, the bytes are hashed by the caller while a worker writes the same
buffer straight to the disk and fsyncs it: the address is still the hash of exactly the bytes
stored, and the disk write overlaps the hash instead of preceding it.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import threading

ALIGN = 4096  # direct I/O wants buffer, length and offset aligned to the device's blocks
DIRECT_MAX = 4 << 20  # bigger files are copied by the kernel (no buffer of their size is held)
_KEEP = 2  # free buffers kept for reuse: new memory costs a page fault per page


class DirectIO:
    """A store's staging of small files around the page cache, with the buffers it reuses."""

    def __init__(self) -> None:
        self.enabled = hasattr(os, "O_DIRECT")
        self._buffers = Buffers()

    def read(self, src_fd: int, fd: int) -> tuple[mmap.mmap, int] | None:
        """The file ``src_fd`` read into a pooled buffer, with ``fd`` switched to direct I/O, and
        its length; None where direct I/O is not to be had or the file outgrew the buffer (the
        caller copies instead). Hand the buffer back with ``release`` once written."""
        if not self.enabled:
            return None
        buf, n = self._buffers.take(), None
        try:
            n = read_whole(src_fd, buf)
            if n is not None and not enable(fd):
                self.enabled, n = False, None  # this filesystem has no direct I/O
        finally:
            if n is None:
                self._buffers.give(buf)
        return None if n is None else (buf, n)

    def release(self, buf: mmap.mmap) -> None:
        self._buffers.give(buf)

    def close(self) -> None:
        self._buffers.close()


def enable(fd: int) -> bool:
    """Switch ``fd`` to direct I/O; False where its filesystem has none."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
    except OSError:
        return False
    return True


class Buffers:
    """Page-aligned buffers (anonymous maps) of ``DIRECT_MAX`` plus a block, reused."""

    def __init__(self) -> None:
        self._free: list[mmap.mmap] = []
        self._lock = threading.Lock()

    def take(self) -> mmap.mmap:
        with self._lock:
            if self._free:
                return self._free.pop()
        return mmap.mmap(-1, DIRECT_MAX + ALIGN)

    def give(self, buf: mmap.mmap) -> None:
        with self._lock:
            if len(self._free) < _KEEP:
                self._free.append(buf)
                return
        buf.close()

    def close(self) -> None:
        with self._lock:
            free, self._free = self._free, []
        for buf in free:
            buf.close()


def read_whole(fd: int, buf: mmap.mmap) -> int | None:
    """Read the regular file ``fd`` into ``buf``: its length, or None when it does not fit
    (it grew). A regular file's read comes back short only at its end, so a short read ends
    it without another call to see nothing more."""
    got = 0
    with memoryview(buf) as view:
        while got < len(view):
            with view[got:] as rest:
                n = os.preadv(fd, [rest], got)
                if n < len(rest):
                    return got + n
            got += n
    return None


_DSYNC = getattr(os, "RWF_DSYNC", 0)


def write_durably(fd: int, buf: mmap.mmap, size: int) -> None:
    """Write ``buf[:size]`` at the start of ``fd`` (opened for direct I/O), durably. The last
    block goes out zero-padded, and the file is then cut to ``size`` and synced; a file of
    whole blocks is written with ``RWF_DSYNC`` instead, durable when the write returns (one
    system call where there were two)."""
    padded = -(-size // ALIGN) * ALIGN
    buf[size:padded] = bytes(padded - size)
    flags = _DSYNC if padded == size and size else 0
    done = 0
    with memoryview(buf) as view:
        while done < padded:
            with view[done:padded] as rest:
                done += os.pwritev(fd, [rest], done, flags)
    if not flags:
        if padded != size:
            os.ftruncate(fd, size)
        os.fsync(fd)
