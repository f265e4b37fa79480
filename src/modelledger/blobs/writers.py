"""Telling a temp file still being written from the leftover of a writer that died.

Every process that writes named temp files into a local store first takes an exclusive
``flock`` on a file of its own, ``<root>/writers/<token>``, and keeps it while its store is
open; its temp files are named ``.tmp-<token>-<n>``. The kernel drops a flock when its holder
dies, however it dies (``kill -9``, a power cut, the OOM killer), so a temp file whose token has
no lock file, or one whose lock can be taken, belongs to no living writer: ``mledger fsck``
reports it and ``fsck --repair`` removes it. The lock file gets its name only once locked (it is
made as ``.new-<token>`` and renamed), so no one ever sees an unlocked lock of a live writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import secrets
import threading
import weakref

WRITERS = "writers"  # the folder of lock files, under the store's root
TEMP_PREFIX = ".tmp-"
NEW_PREFIX = ".new-"


class Writer:
    """This process's claim on a store's temp files; taken at the first temp file."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._held: tuple[int, str, str] | None = None  # (fd, token, pid it was taken in)
        self._names = itertools.count()
        self._finalizer: weakref.finalize[..., Writer] | None = None

    def token(self) -> str:
        with self._lock:
            held = self._held
            if held is None or held[2] != str(os.getpid()):
                # first use, or a forked child: the parent's lock is not this process's
                held = self._held = _take(self.root)
                self._finalizer = weakref.finalize(self, _let_go, held, self.root)
            return held[1]

    def temp(self, directory: str, mode: int = 0o600) -> tuple[int, str]:
        """A new temp file in ``directory`` (of this store), open for writing, and its path."""
        name = f"{TEMP_PREFIX}{self.token()}-{next(self._names)}"
        path = os.path.join(directory, name)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode), path

    def release(self) -> None:
        """Give the claim up; only once this process has no temp file of this store left."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._held = self._finalizer = None


def _take(root: str) -> tuple[int, str, str]:
    folder = os.path.join(root, WRITERS)
    os.makedirs(folder, exist_ok=True)
    token = secrets.token_hex(8)
    new = os.path.join(folder, NEW_PREFIX + token)
    fd = os.open(new, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(new, os.path.join(folder, token))
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(new)
        raise
    return fd, token, str(os.getpid())


def _let_go(held: tuple[int, str, str], root: str) -> None:
    fd, token, pid = held
    if pid == str(os.getpid()):  # a forked child leaves its parent's claim alone
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(root, WRITERS, token))
    os.close(fd)


def token_of(name: str) -> str | None:
    """The writer's token in a temp file's name, or None for a name of another form (written
    by an older release, or by hand)."""
    parts = name.removeprefix(TEMP_PREFIX).split("-")
    if name.startswith(TEMP_PREFIX) and len(parts) == 2 and len(parts[0]) == 16:
        with contextlib.suppress(ValueError):
            int(parts[0], 16)
            return parts[0]
    return None


def alive(root: str, token: str) -> bool:
    """Whether the writer ``token`` still holds its lock (its temp files may be in use)."""
    try:
        fd = os.open(os.path.join(root, WRITERS, token), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # (closing lets go of the lock, if it was taken)
    return False


def forget(root: str, token: str) -> bool:
    """Remove a dead writer's lock file; False when it turns out to be alive after all."""
    path = os.path.join(root, WRITERS, token)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # while holding it: no one can be using it meanwhile
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def lock_files(root: str) -> list[str]:
    """The tokens with a lock file (living or dead writers)."""
    try:
        names = os.listdir(os.path.join(root, WRITERS))
    except FileNotFoundError:
        return []
    return sorted(n for n in names if not n.startswith("."))
