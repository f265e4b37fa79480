"""Making writes durable: fsync of files and folders, or one filesystem sync for many."""

from __future__ import annotations

import ctypes
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_path(path: str) -> None:
    """fsync a file or a directory (a directory's fsync makes its new entries durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_paths(paths: list[str], directory: str) -> None:
    """fsync each file (or folder), or one syncfs(2) of the store's filesystem when there are
    many: a thousand fsyncs cost a thousand journal commits, one syncfs costs one."""
    syncfs = getattr(_libc(), "syncfs", None) if len(paths) > 8 else None
    if syncfs is not None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)

    if len(paths) == 1:
        fsync_path(paths[0])  # (a pool for one path costs more than the path)
        return
    with ThreadPoolExecutor(4, thread_name_prefix="mledger-fsync") as pool:
        list(pool.map(fsync_path, paths))


@functools.cache
def _libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
