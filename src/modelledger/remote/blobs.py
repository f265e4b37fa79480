"""The registry server's blob store as a client sees it (``/api/v1/blobs``): blobs are fetched
by their sha256 and checked against it by whoever reads them (``copy_verified``, ``parse_tree``),
so a server, a proxy or a store that changed a byte is caught here; blobs are sent only when
the server says it lacks them, and it re-hashes every one it takes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from modelledger.blobs.tree import Tree, parse_tree
from modelledger.remote.session import Remote

CHUNK = 1 << 20
ASK_AT_ONCE = 10_000  # shas per "which are missing" question
_PARALLEL = 4  # uploads in flight: enough to hide a round trip, few enough for a small server


class RemoteBlobs:
    def __init__(self, remote: Remote) -> None:
        self.remote = remote

    def open(self, sha256: str) -> IO[bytes]:
        """The blob's bytes as they arrive, not yet checked (the reader hashes them)."""
        return self.remote.download(f"/blobs/{sha256}")

    def get(self, sha256: str) -> bytes:
        with self.open(sha256) as f:
            return f.read()

    def get_tree(self, sha256: str) -> Tree:
        return parse_tree(sha256, self.get(sha256), f"the registry at {self.remote.url}")

    def missing(self, shas: Iterable[str]) -> set[str]:
        wanted = sorted(set(shas))
        lacking: set[str] = set()
        for i in range(0, len(wanted), ASK_AT_ONCE):
            answer = self.remote.post("/blobs/missing", {"sha256": wanted[i : i + ASK_AT_ONCE]})
            lacking.update(answer["missing"])
        return lacking

    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self._put(sha, data, len(data))
        return sha

    def ensure_bytes(self, data: bytes) -> str:
        """Send ``data`` unless the server has it: its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        if self.missing([sha]):
            self._put(sha, data, len(data))
        return sha

    def ensure_file(self, path: Path) -> str:
        return self.ensure_bytes(path.read_bytes())  # (a script or a diff: small)

    def put_files(
        self, files: dict[str, Path], on_bytes: Callable[[int], None] | None = None
    ) -> None:
        """Send each file under the sha256 it was hashed to; the server refuses one whose bytes
        have changed since (they no longer hash to it)."""
        advance = on_bytes or (lambda n: None)

        def send(item: tuple[str, Path]) -> None:
            sha, path = item
            size = os.stat(path).st_size
            self._put(sha, _chunks(path), size)
            advance(size)

        with ThreadPoolExecutor(_PARALLEL) as pool:
            list(pool.map(send, files.items()))

    def _put(self, sha: str, body: bytes | Iterator[bytes], size: int) -> None:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        self.remote.send("PUT", f"/blobs/{sha}", body, headers=headers)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
