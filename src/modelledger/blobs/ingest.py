"""Storing many files at once for a snapshot: one read per file, stat-only when the hash cache
vouches for a file and the store still holds its bytes, and never a hash that does not match
the stored bytes.

A file that changes while it is read (its size, mtime or inode moves between the scan and the
end of the read) fails the whole ingest, and nothing becomes visible: temp files are dropped.

In a local store, many small files go into one pack (packs.py): creating an inode per file, not
writing its bytes, is what costs. Those whose bytes are in the page cache are read by one thread,
since threads for tiny files mostly contend for the GIL; those still on disk, and larger files,
are read by a pool meanwhile, where parallel reads keep the disk busy.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from modelledger.blobs.hashcache import FileKey, HashCache
from modelledger.blobs.loose import LooseBatch
from modelledger.blobs.packs import PackWriter
from modelledger.blobs.store import BlobStore, Staged
from modelledger.blobs.tree import TreeEntry
from modelledger.core.errors import InvalidInput

# Files up to this size are read into memory once and hashed there; larger ones are kernel-copied
# into the store and the copy is hashed.
SMALL = 4 << 20
# Files up to this size go into a pack in local stores; larger ones are stored loose. (Measured:
# packing 1 MiB files still saves a fifth; past that, the inode is cheap next to the bytes, and a
# collector has to copy packed bytes to delete anything.)
PACKED_MAX = 1 << 20
# Local files up to this size are read by the calling thread when cached: threads for tiny files
# only contend for the GIL. Larger ones go to the pool, which overlaps their hashing (hashlib
# releases the GIL) with reads and writes. (Measured on 2 CPUs: one thread wins at 1 and 16 KiB,
# the pool from 32 KiB on.)
SERIAL_MAX = 16 << 10
# Fewer new small files than this stay loose: a pack of a handful of objects saves little and
# every pack adds to what each lookup searches (git unpacks fetches under 100 objects likewise).
PACK_MIN = 100
_BATCH = 64  # files per pool task at most: a task per 1 KiB file would cost more than the file
_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)  # Linux: a read that never waits on the disk


class SourceFile(NamedTuple):
    rel: str  # POSIX path inside the snapshot
    key: FileKey
    mode: int  # 0o644 or 0o755


def scan(paths: list[Path]) -> list[SourceFile]:
    """The files to snapshot: a single folder's contents sit at the tree root; otherwise files
    by name and folders under their name. Symlinks may point only inside the folder given."""
    if not paths:
        raise InvalidInput("give at least one file or folder to snapshot")
    found: list[SourceFile] = []
    for p in paths:
        if not os.path.lexists(p):
            raise InvalidInput(f"{p}: no such file or directory")
        if p.is_dir():
            prefix = "" if len(paths) == 1 else p.name + "/"
            found.extend(_walk(p, prefix))
        else:
            found.append(_source(p, p.name, None))
    seen: set[str] = set()
    for f in found:
        if f.rel in seen:
            raise InvalidInput(f"two inputs would both be stored as {f.rel!r}")
        seen.add(f.rel)
    if not found:
        raise InvalidInput(f"{', '.join(map(str, paths))}: no files to snapshot")
    return found


def _source(path: Path, rel: str, root: Path | None) -> SourceFile:
    if path.is_symlink():
        target = path.resolve()
        if root is None or not target.is_relative_to(root):
            raise InvalidInput(
                f"{path}: symlink points outside the folder being snapshotted ({target})"
            )
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: broken symlink or vanished file") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{path}: not a regular file")
    key = FileKey(os.path.abspath(path), st.st_ino, st.st_size, st.st_mtime_ns)
    return SourceFile(rel, key, 0o755 if st.st_mode & stat.S_IXUSR else 0o644)


def _walk(root: Path, prefix: str) -> Iterator[SourceFile]:
    real_root = root.resolve()
    stack = [(os.path.abspath(root), prefix)]  # absolute, so every entry.path is too
    while stack:
        directory, rel_dir = stack.pop()
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = rel_dir + entry.name
            if entry.is_symlink():
                if Path(entry.path).resolve().is_dir():
                    raise InvalidInput(f"{entry.path}: symlinks to folders are not supported")
                yield _source(Path(entry.path), rel, real_root)
            elif entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, rel + "/"))
            else:
                st = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    raise InvalidInput(f"{entry.path}: not a regular file")
                key = FileKey(entry.path, st.st_ino, st.st_size, st.st_mtime_ns)
                yield SourceFile(rel, key, 0o755 if st.st_mode & stat.S_IXUSR else 0o644)


def _changed(f: SourceFile) -> InvalidInput:
    return InvalidInput(
        f"{f.key.path}: changed while being snapshotted; nothing was recorded. "
        "Snapshot it again once it has stopped changing"
    )


def _same(f: SourceFile, st: os.stat_result) -> bool:
    return (st.st_ino, st.st_size, st.st_mtime_ns) == (f.key.ino, f.key.size, f.key.mtime_ns)


class Ingest:
    """Stage files into a blob store; ``commit()`` makes them durable and visible together."""

    def __init__(
        self,
        store: BlobStore,
        cache: HashCache | None = None,
        on_bytes: Callable[[int], None] | None = None,
        workers: int | None = None,
    ) -> None:
        self.store = store
        self.cache = cache
        self.on_bytes = on_bytes or (lambda n: None)
        # local work is hashing and copying, CPU-bound: more threads than CPUs only contend
        # (measured); remote stores wait on the network
        self.workers = workers or (min(8, os.cpu_count() or 1) if store.local else 8)
        self._pack: PackWriter | None = None
        self._loose: LooseBatch | None = None
        self._staged: list[Staged] = []
        self._hashed: list[tuple[FileKey, str]] = []
        self._read_at_ns = 0  # when run() began reading: the age that counts for the hash cache

    def run(self, files: list[SourceFile]) -> list[TreeEntry]:
        self._read_at_ns = time.time_ns()
        hits = self.cache.lookup(f.key for f in files) if self.cache else {}
        if hits:
            # an entry says the bytes were stored once, not that they still are: a lost blob
            # is read from its file and stored again rather than named by a new tree
            lost = self.store.missing(set(hits.values()))
            hits = {path: sha for path, sha in hits.items() if sha not in lost}
        shas = [hits.get(f.key.path) for f in files]
        todo = [f for f, sha in zip(files, shas, strict=True) if sha is None]
        # remote stores write small objects one by one: there the pool hides network latency
        serial = [f for f in todo if self.store.local and f.key.size <= SERIAL_MAX]
        pooled = [f for f in todo if not (self.store.local and f.key.size <= SERIAL_MAX)]
        if self.store.local:
            self._loose = self.store.loose_batch()
            if sum(f.key.size <= PACKED_MAX for f in todo) >= PACK_MIN:
                self._pack = self.store.pack_writer()
        for f, sha in zip(files, shas, strict=True):
            if sha is not None:
                self.on_bytes(f.key.size)
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="mledger-ingest") as pool:
                try:
                    futures = [pool.submit(self._store_all, batch) for batch in _batches(pooled)]
                    uncached = _batches(self._in_this_thread(serial))
                    futures += [pool.submit(self._store_all, batch) for batch in uncached]
                    for future in futures:
                        future.result()
                except BaseException:
                    pool.shutdown(cancel_futures=True)  # the ingest has failed: spare the rest
                    raise
        except BaseException:
            self.discard()
            raise
        found = dict(self._hashed)
        return [
            TreeEntry(f.rel, sha or found[f.key], f.key.size, f.mode)
            for f, sha in zip(files, shas, strict=True)
        ]

    def commit(self) -> None:
        """Durable, then visible; remember the hashes only once the bytes are in the store."""
        try:
            with self.store.one_sync():
                for batch in (self._pack, self._loose):
                    if batch is not None:
                        batch.commit()
                for staged in self._staged:
                    staged.commit()
        finally:
            self.discard()
        if self.cache is not None:
            self.cache.remember(self._hashed, self._read_at_ns)

    def discard(self) -> None:
        for batch in (self._pack, self._loose):
            if batch is not None:
                batch.discard()
        self._pack = self._loose = None
        for staged in self._staged:
            staged.discard()
        self._staged = []

    def _store_all(self, files: list[SourceFile]) -> None:
        for f in files:
            sha = self._small(f) if f.key.size <= SMALL else self._large(f)
            assert sha is not None  # a read that may wait always gets the bytes
            self._hashed.append((f.key, sha))
            self.on_bytes(f.key.size)

    def _in_this_thread(self, files: list[SourceFile]) -> Iterator[SourceFile]:
        """Store the files whose bytes are in the page cache; yield the others, for the pool."""
        for f in files:
            sha = self._small(f, cached_only=True)
            if sha is None:
                yield f
            else:
                self._hashed.append((f.key, sha))
                self.on_bytes(f.key.size)

    def _small(self, f: SourceFile, cached_only: bool = False) -> str | None:
        """Read, hash and stage a file; None, having stored nothing, when ``cached_only`` and
        reading it would wait on the disk."""
        try:
            fd = os.open(f.key.path, os.O_RDONLY)
        except PermissionError:
            raise InvalidInput(f"{f.key.path}: permission denied") from None
        except FileNotFoundError:
            raise _changed(f) from None
        try:
            if cached_only and _NOWAIT is not None:
                cached = _read_cached(fd, f.key.size)
                if cached is None:
                    return None
                data = cached
            else:
                data = os.read(fd, f.key.size + 1)  # one byte more: a grown file shows itself
                while len(data) < f.key.size and (more := os.read(fd, f.key.size + 1 - len(data))):
                    data += more  # (a file that grows later shows in its fstat below)
            if len(data) != f.key.size or not _same(f, os.fstat(fd)):
                raise _changed(f)
        finally:
            os.close(fd)
        sha = hashlib.sha256(data).hexdigest()
        if self._pack is not None and len(data) <= PACKED_MAX:
            if sha not in self._pack and not self.store.has_fresh(sha):
                self._pack.add(sha, data)
        elif not self.store.has_fresh(sha):
            if self._loose is not None:
                self._loose.add(sha, data)
            else:
                self.store.put_bytes(data)
        return sha

    def _large(self, f: SourceFile) -> str:
        staged = self.store.stage_file(f.key.path)
        self._staged.append(staged)
        try:
            st = os.stat(f.key.path)
        except FileNotFoundError:
            raise _changed(f) from None
        if staged.info.size != f.key.size or not _same(f, st):
            raise _changed(f)
        return staged.info.sha256


def _read_cached(fd: int, size: int) -> bytes | None:
    """The file's bytes (one more if it grew), or None when the page cache lacks some of them."""
    assert _NOWAIT is not None
    buf = bytearray(size + 1)
    try:
        n = os.preadv(fd, [buf], 0, _NOWAIT)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EOPNOTSUPP):  # not cached; or no such reads here
            return None
        raise
    if n < size:
        return None
    del buf[n:]
    return bytes(buf)


def _batches(files: Iterable[SourceFile]) -> Iterator[list[SourceFile]]:
    """Pool tasks of up to _BATCH files, cut sooner by size so that large files spread over the
    pool's threads."""
    batch: list[SourceFile] = []
    size = 0
    for f in files:
        batch.append(f)
        size += f.key.size
        if len(batch) == _BATCH or size >= SMALL:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch
