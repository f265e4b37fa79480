"""Loose objects written many at once: each to its own temp file, all made durable with one
filesystem sync before they are linked into ``sha256/ab/cdef…``."""

from __future__ import annotations

import contextlib
import os

from modelledger.blobs.durable import sync_paths, write_all
from modelledger.blobs.writers import Writer


class LooseBatch:
    """Loose objects written now, durable and visible at ``commit()``. Thread-safe."""

    def __init__(self, objects: str, writer: Writer | None = None) -> None:
        self.objects = objects  # the store's sha256/ folder: temps live there, objects below it
        self._writer = writer or Writer(os.path.dirname(objects))
        self._temps: list[tuple[str, str]] = []  # (temp path, sha256)

    def add(self, sha256: str, data: bytes) -> None:
        fd, tmp = self._writer.temp(self.objects, 0o444)
        try:
            write_all(fd, data)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        self._temps.append((tmp, sha256))

    def commit(self) -> None:
        temps, self._temps = self._temps, []
        if not temps:
            return
        try:
            sync_paths([t for t, _ in temps], self.objects)  # bytes durable before any name
            fans = sorted({os.path.join(self.objects, sha[:2]) for _, sha in temps})
            for fan in fans:
                os.makedirs(fan, exist_ok=True)
            for tmp, sha in temps:
                with contextlib.suppress(FileExistsError):  # the same bytes are already there
                    os.link(tmp, os.path.join(self.objects, sha[:2], sha[2:]))
            # names durable too before returning: the ledger records them next
            sync_paths([*fans, self.objects], self.objects)
        finally:
            _unlink_all(temps)

    def discard(self) -> None:
        temps, self._temps = self._temps, []
        _unlink_all(temps)


def _unlink_all(temps: list[tuple[str, str]]) -> None:
    for tmp, _ in temps:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
