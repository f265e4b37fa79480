"""Storing many files at once for a snapshot: parallel, one read per file, stat-only when the hash
cache vouches for a file, and never a hash that does not match the stored bytes.

A file that changes while it is read (its size, mtime or inode moves between the scan and the
end of the read) fails the whole ingest, and nothing becomes visible: temp files are dropped.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from modelledger.blobs.hashcache import FileKey, HashCache
from modelledger.blobs.store import BlobStore, Staged
from modelledger.domain.errors import InvalidInput
from modelledger.domain.tree import TreeEntry

# Files up to this size are read into memory once and hashed there; larger ones are kernel-copied
# into the store and the copy is hashed.
SMALL = 4 << 20
_BATCH = 64  # files per task: a task per 1 KiB file would cost more than the file


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
        workers: int = 8,
    ) -> None:
        self.store = store
        self.cache = cache
        self.on_bytes = on_bytes or (lambda n: None)
        self.workers = workers
        self._temps: list[tuple[str, str]] = []
        self._staged: list[Staged] = []
        self._hashed: list[tuple[FileKey, str]] = []

    def run(self, files: list[SourceFile]) -> list[TreeEntry]:
        hits = self.cache.lookup(f.key for f in files) if self.cache else {}
        batches = [files[i : i + _BATCH] for i in range(0, len(files), _BATCH)]
        try:
            if len(batches) > 1 or (files and files[0].key.size > SMALL):
                with ThreadPoolExecutor(self.workers, thread_name_prefix="mledger-ingest") as pool:
                    done = list(pool.map(lambda b: self._batch(b, hits), batches))
            else:
                done = [self._batch(b, hits) for b in batches]
        except BaseException:
            self.discard()
            raise
        return [entry for batch in done for entry in batch]

    def commit(self) -> None:
        """Durable, then visible; remember the hashes only once the bytes are in the store."""
        try:
            self.store.publish_temps(self._temps)
            for staged in self._staged:
                staged.commit()
        finally:
            self.discard()
        if self.cache is not None:
            self.cache.remember(self._hashed)

    def discard(self) -> None:
        self.store.drop_temps(self._temps)
        self._temps = []
        for staged in self._staged:
            staged.discard()
        self._staged = []

    def _batch(self, batch: list[SourceFile], hits: dict[str, str]) -> list[TreeEntry]:
        out = []
        for f in batch:
            sha = hits.get(f.key.path)
            if sha is None:
                sha = self._small(f) if f.key.size <= SMALL else self._large(f)
                self._hashed.append((f.key, sha))
            out.append(TreeEntry(f.rel, sha, f.key.size, f.mode))
            self.on_bytes(f.key.size)
        return out

    def _small(self, f: SourceFile) -> str:
        try:
            fd = os.open(f.key.path, os.O_RDONLY)
        except PermissionError:
            raise InvalidInput(f"{f.key.path}: permission denied") from None
        except FileNotFoundError:
            raise _changed(f) from None
        try:
            data = os.read(fd, f.key.size + 1)  # one byte more: a grown file shows itself
            while len(data) <= f.key.size and (more := os.read(fd, f.key.size + 1 - len(data))):
                data += more
            if len(data) != f.key.size or not _same(f, os.fstat(fd)):
                raise _changed(f)
        finally:
            os.close(fd)
        sha = hashlib.sha256(data).hexdigest()
        if not self.store.has(sha):
            if self.store.local:
                self._temps.append((self.store.write_temp(data), sha))
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
