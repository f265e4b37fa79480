"""Finding the tabular files (CSV, Parquet) inside snapshots and handing DuckDB a local path."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from modelledger.blobs.tree import Tree, TreeEntry
from modelledger.ledger.home import Ledger
from modelledger.tabular import Table, table_format


@dataclass(frozen=True)
class TabularFile:
    snapshot_id: str
    entry: TreeEntry
    fmt: str


def tabular_files(snapshot_id: str, tree: Tree) -> list[TabularFile]:
    out = []
    for entry in tree.entries:
        fmt = table_format(entry.path)
        if fmt is not None:
            out.append(TabularFile(snapshot_id, entry, fmt))
    return out


class LocalTables:
    """Local paths for blobs: the store's own file when it is local, else a downloaded copy that
    lives as long as this object's context."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._stack = contextlib.ExitStack()
        self._tmp: Path | None = None

    def table(self, f: TabularFile, label: str | None = None) -> Table:
        return Table(self.path(f.entry.sha256), f.fmt, label or f.entry.path)

    def path(self, sha256: str) -> str:
        blobs = self.ledger.blobs
        if blobs.local and os.path.exists(loose := blobs.path(sha256)):
            return loose  # packed objects (small files) are copied out below
        if self._tmp is None:
            self._tmp = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
        target = self._tmp / sha256
        if not target.exists():
            with blobs.open(sha256) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
        return str(target)

    def checked_path(self, sha256: str, what: str) -> str:
        """``path``, once the bytes there are the ones the address names (a reader verifies what
        it reads): CheckFailed naming ``what`` otherwise."""
        import hashlib

        from modelledger.core.errors import CheckFailed

        path = self.path(sha256)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != sha256:
            raise CheckFailed(
                f"{what} {sha256[:12]} is corrupt in the store (its bytes no longer match their "
                "hash): `mledger fsck` names the damage"
            )
        return path

    def __enter__(self) -> LocalTables:
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()
