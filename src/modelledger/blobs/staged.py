"""What the store hands back: a stored blob's address and size, and a blob staged for commit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    size: int


class Staged:
    """A blob whose address is known but which is not in the store yet.

    ``commit()`` makes it durable and visible under its address; ``discard()`` drops it, so a
    registration that fails after hashing leaves nothing behind. Either may be called safely
    after the other. ``source``: for a staged file, the absolute path of the file whose bytes
    were read, symbolic links followed.
    """

    def __init__(
        self,
        info: BlobInfo,
        publish: Callable[[], None] | None = None,
        discard: Callable[[], None] | None = None,
    ) -> None:
        self.info = info
        self.source: str | None = None
        self._publish = publish
        self._discard = discard

    def commit(self) -> BlobInfo:
        publish, self._publish, self._discard = self._publish, None, None
        if publish is not None:
            publish()
        return self.info

    def discard(self) -> None:
        drop, self._publish, self._discard = self._discard, None, None
        if drop is not None:
            drop()
