"""The files people name on a command line or hand the Python API: regular files only (a device
or a FIFO would hand over endless, empty or blocking bytes), read with a size bound, with names
that are UTF-8 (names are stored in JSON, which has no form for undecodable bytes).

Every refusal is an ``InvalidInput`` naming the option and the file, so the CLI prints one
``error:`` line and exits 2."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from modelledger.core.errors import InvalidInput

# Cards, params files, policies and metrics files: human-written documents, far below this.
DOCUMENT_LIMIT = 16 * 1024 * 1024
# Dependency locks (uv.lock, poetry.lock, requirements): stored as bytes, never parsed.
LOCK_LIMIT = 64 * 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def shown(path: str | os.PathLike[str]) -> str:
    """A path as it can be printed: undecodable bytes as ``\\xff`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _where(path: str | os.PathLike[str], option: str) -> str:
    return f"{option} {shown(path)}" if option else shown(path)


def _kind(mode: int) -> str:
    return next((said for test, said in _KINDS if test(mode)), "not a regular file")


def check_name(path: str | os.PathLike[str], option: str = "") -> None:
    """Refuse a file name that is not UTF-8."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{_where(path, option)}: the file name is not valid UTF-8; rename it"
        ) from None


def _refused(path: str | os.PathLike[str], option: str, exc: OSError) -> InvalidInput:
    where = _where(path, option)
    if exc.errno == errno.ELOOP:
        return InvalidInput(f"{where}: symlink loop")
    if isinstance(exc, FileNotFoundError):
        return InvalidInput(f"{where}: no such file")
    if isinstance(exc, PermissionError):
        return InvalidInput(f"{where}: permission denied")
    return InvalidInput(f"{where}: cannot read it ({exc.strerror or exc})")


def read_bytes(path: str | os.PathLike[str], option: str, limit: int = DOCUMENT_LIMIT) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. Opened without blocking, so that
    a FIFO is refused rather than waited on, and checked on the open file (no race with a swap)."""
    check_name(path, option)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _refused(path, option, exc) from None
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise InvalidInput(
                f"{_where(path, option)}: {_kind(found.st_mode)}, not a regular file"
            )
        if found.st_size > limit:
            raise _too_big(path, option, found.st_size, limit)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)  # the file may have grown since fstat
    except OSError as exc:
        raise _refused(path, option, exc) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _too_big(path, option, len(data), limit)
    return data


def _too_big(path: str | os.PathLike[str], option: str, size: int, limit: int) -> InvalidInput:
    return InvalidInput(
        f"{_where(path, option)}: {size:,} bytes is more than the {limit:,} bytes "
        f"({limit // (1024 * 1024)} MiB) such a file may hold"
    )


def read_text(path: str | os.PathLike[str], option: str, limit: int = DOCUMENT_LIMIT) -> str:
    """A regular file's UTF-8 text, size-bounded as ``read_bytes``."""
    data = read_bytes(path, option, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{_where(path, option)}: not UTF-8 text (byte {exc.start:,})") from None


def check_inputs(paths: Iterable[str | os.PathLike[str]], option: str = "") -> None:
    """Files and folders about to be stored (an artifact, a snapshot's inputs): each a regular
    file or a folder whose members are regular files, folders or symlinks, every name UTF-8 and
    no symlink a loop. What a symlink may point at is the store's rule (``blobs.ingest.scan``);
    this only refuses what would otherwise hang, read a device, or fail as a traceback."""
    for path in paths:
        _check_input(Path(path), option)


def check_file(path: str | os.PathLike[str], option: str = "") -> None:
    """Refuse anything but a regular file (symlinks followed) with a UTF-8 name."""
    check_name(path, option)
    found = _stat(Path(path), option)
    if not stat.S_ISREG(found.st_mode):
        raise InvalidInput(f"{_where(path, option)}: {_kind(found.st_mode)}, not a regular file")


def _stat(path: Path, option: str) -> os.stat_result:
    try:
        return path.stat()
    except OSError as exc:
        if not os.path.lexists(path):
            raise InvalidInput(f"{_where(path, option)}: no such file or directory") from None
        if exc.errno == errno.ENOENT:
            raise InvalidInput(f"{_where(path, option)}: broken symlink") from None
        raise _refused(path, option, exc) from None


def _check_input(path: Path, option: str) -> None:
    check_name(path, option)
    found = _stat(path, option)
    if stat.S_ISDIR(found.st_mode):
        _check_tree(path, option)
    elif not stat.S_ISREG(found.st_mode):
        raise InvalidInput(f"{_where(path, option)}: {_kind(found.st_mode)}, not a regular file")


def _check_tree(root: Path, option: str) -> None:
    stack = [os.fspath(root)]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as exc:
            raise _refused(directory, option, exc) from None
        for entry in entries:
            check_name(entry.path, option)
            if entry.is_symlink():
                try:
                    os.stat(entry.path)
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        raise _refused(entry.path, option, exc) from None
                    # a broken link: the store says what it makes of it, as before
            elif entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif not entry.is_file(follow_symlinks=False):
                mode = entry.stat(follow_symlinks=False).st_mode
                raise InvalidInput(
                    f"{_where(entry.path, option)}: {_kind(mode)}, not a regular file"
                )
