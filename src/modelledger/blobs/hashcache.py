"""A local cache of file hashes keyed by (path, inode, size, mtime_ns), so that re-snapshotting an
unchanged tree costs one stat per file instead of reading it.

It lives beside the ledger (``.mledger/cache/hashes.sqlite``) and belongs to one blob store: an
entry also means "these bytes were stored in that store", never that they still are (a blob may
be lost since): callers confirm the store holds them before naming them. It is only a cache:
deleting it is always safe.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

# A file modified again within the filesystem's timestamp granularity keeps its mtime; like git's
# "racily clean" rule, entries this young when their bytes were read are not trusted later.
RACY_NS = 100_000_000


class FileKey(NamedTuple):  # a tuple: 20,000 of these are built on every re-snapshot
    path: str  # absolute
    ino: int
    size: int
    mtime_ns: int


class HashCache:
    def __init__(self, path: Path, store_url: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")  # a lost cache entry costs one re-hash
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, ino INTEGER, size INTEGER,"
            " mtime_ns INTEGER, sha256 TEXT) WITHOUT ROWID"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = self._db.execute("SELECT value FROM meta WHERE key = 'store'").fetchone()
        if row is None or row[0] != store_url:
            # entries vouch for bytes being in a store; another store means none of them hold
            self._db.execute("DELETE FROM files")
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('store', ?)", (store_url,))

    def lookup(self, keys: Iterable[FileKey]) -> dict[str, str]:
        """path → sha256 for the keys whose inode, size and mtime still match."""
        wanted = {k.path: k for k in keys}
        if not wanted:
            return {}
        lo = min(wanted)
        hi = max(wanted)
        found: dict[str, str] = {}
        rows = self._db.execute(
            "SELECT path, ino, size, mtime_ns, sha256 FROM files WHERE path >= ? AND path <= ?",
            (lo, hi),
        )
        for path, ino, size, mtime_ns, sha in rows:
            key = wanted.get(path)
            if key is not None and (key.ino, key.size, key.mtime_ns) == (ino, size, mtime_ns):
                found[path] = sha
        return found

    def remember(self, entries: Iterable[tuple[FileKey, str]], read_at_ns: int) -> None:
        """Keep the hashes of files already ``RACY_NS`` old when reading began at ``read_at_ns``.

        The age is taken at reading time, not now: a slow commit must not make a file that was
        still settling when it was read look trustworthy.
        """
        rows = [
            (k.path, k.ino, k.size, k.mtime_ns, sha)
            for k, sha in entries
            if read_at_ns - k.mtime_ns > RACY_NS
        ]
        if rows:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()


def cache_path(home: str | os.PathLike[str]) -> Path:
    return Path(home) / "cache" / "hashes.sqlite"
