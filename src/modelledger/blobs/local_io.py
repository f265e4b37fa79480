"""Local file I/O for the blob store: durable copies, their hashes, and kernel copies."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os

from modelledger.blobs import direct

CHUNK = 1 << 20
_FICLONE: int | None = 0x40049409 if os.uname().sysname == "Linux" else None


def forget_pages(fd: int) -> None:
    """Drop a durable stored copy's pages from the page cache. The copy is written once and read
    rarely (verify, serving's load), and the source's pages are cached anyway; freed at once,
    its pages serve the next copy. Kept instead, every registration grows the cache by its
    artifact: on a VM whose memory the host backs on first touch (Firecracker, our benchmark
    machine), each new page then costs a host fault, which made a copy several times slower.
    Called after the fsync (only clean pages can be dropped) and the hash."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def make_durable(fd: int, buffered: tuple[mmap.mmap, int] | None) -> None:
    """On a worker, for ``BlobStore._stage_local``: the staged copy read-only, as every stored object is,
    and on disk; written from ``buffered`` first when the bytes are in a direct-I/O buffer."""
    os.fchmod(fd, 0o444)  # the descriptor stays writable: modes are checked at open
    if buffered is None:
        os.fsync(fd)
    else:
        direct.write_durably(fd, *buffered)


def hash_of(fd: int) -> tuple[str, int]:
    """The address of an open file's bytes: one call into the hash, which lets go of the GIL."""
    size = os.fstat(fd).st_size
    if size == 0:
        return hashlib.sha256().hexdigest(), 0
    with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mapped:
        return hashlib.sha256(mapped).hexdigest(), size


def opened_path(fd: int, path: str | os.PathLike[str]) -> str:
    """Where the open file ``fd`` (opened as ``path``) is, symbolic links followed: the file
    actually read, even if a link on the way changed since. One system call on Linux."""
    try:
        found = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        found = ""
    if found.startswith("/") and not found.endswith(" (deleted)"):
        return found
    return os.path.realpath(path)  # no /proc, or the file was removed since it was read


def kernel_copy(infd: int, fd: int, size: int) -> None:
    """A reflink (copy-on-write: no bytes copied) where the filesystem offers it, else
    copy_file_range (no bytes through Python), else a plain copy."""
    offset = 0
    if _FICLONE is not None:
        try:
            fcntl.ioctl(fd, _FICLONE, infd)
            return
        except OSError:
            pass  # not a reflinking filesystem (ext4) or another filesystem than the store's
    try:
        while offset < size:
            n = os.copy_file_range(infd, fd, size - offset, offset, offset)
            if n == 0:
                break
            offset += n
        return
    except OSError:
        if offset:
            raise
    while chunk := os.read(infd, CHUNK):
        os.write(fd, chunk)
