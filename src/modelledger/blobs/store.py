"""Content-addressed storage of artifact bytes.

Objects live at ``<root>/sha256/ab/cdef…``. Local writes stream to a temp file in the store while
hashing (one pass), fsync, then hard-link into place: a link never replaces an existing object, so
nothing is ever overwritten. Remote stores (s3://, gs://, memory://) hash first and upload only
what is missing; their object PUTs are atomic.

A local store may also hold objects in pack files (``<root>/packs``, see packs.py), written by
snapshots of many small files; reads cover both, and a loose object wins over a packed one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from modelledger.blobs import direct, local_io
from modelledger.blobs.anonymous import AnonymousFiles
from modelledger.blobs.durable import sync_paths
from modelledger.blobs.local_io import CHUNK
from modelledger.blobs.loose import LooseBatch
from modelledger.blobs.packs import PackIndex, PackWriter
from modelledger.blobs.staged import BlobInfo, Staged
from modelledger.blobs.tree import Tree, parse_tree
from modelledger.blobs.urls import check_url
from modelledger.blobs.writers import Writer
from modelledger.core.errors import InvalidInput, NotFound
from modelledger.core.workers import ProcessPool

__all__ = ["CHUNK", "BlobInfo", "BlobStore", "Staged"]
_SYNC_POOL = ProcessPool(4, "mledger-fsync")
# An object store's object cannot be freshened in place: a writer reuses one only while it is
# younger than this and uploads it again otherwise (a PUT renews it), and gc never takes one
# younger than twice this (``removal.REMOTE_GRACE``), so a writer's reuse is always covered.
REMOTE_REUSE = 1800.0


class BlobStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.local = "://" not in url or url.startswith("file://")
        if self.local:
            # local paths need no fsspec on the hot path (its import is a visible part of a command)
            self.root = os.path.abspath(url.removeprefix("file://")).rstrip("/")
        else:
            self.root = self.fs_and_root[1].rstrip("/")
        self._tmp_dir = os.path.join(self.root, "sha256")
        self._packs = PackIndex(os.path.join(self.root, "packs"))
        self._anonymous = AnonymousFiles(self._tmp_dir, _SYNC_POOL)
        self._writer = Writer(self.root)
        self._batch = threading.local()  # .dirs: directories to sync at the batch's end
        self._direct = direct.DirectIO()
        if self.local and not os.path.isdir(self._tmp_dir):
            os.makedirs(self._tmp_dir, exist_ok=True)
            # All 256 fan-out directories up front (a new store's first few hundred objects
            # would each pay a mkdir inside a registration otherwise).
            for fan in range(256):
                os.makedirs(os.path.join(self._tmp_dir, f"{fan:02x}"), exist_ok=True)

    def close(self) -> None:
        """Let go of what the store holds open (the next write opens it again)."""
        self._anonymous.release()
        self._direct.close()
        self._writer.release()

    @functools.cached_property
    def fs_and_root(self) -> tuple[Any, str]:
        import fsspec

        check_url(self.url)
        return fsspec.core.url_to_fs(self.url)  # type: ignore[no-any-return]

    @property
    def fs(self) -> Any:
        return self.fs_and_root[0]

    # -- addressing -------------------------------------------------------------------------
    def path(self, sha256: str) -> str:
        return f"{self.root}/sha256/{sha256[:2]}/{sha256[2:]}"

    def has(self, sha256: str, recheck: bool = True) -> bool:
        """``recheck=False`` skips looking for packs committed by others since the last look: a
        check before writing can afford a rare false "no" (it costs a duplicate copy)."""
        if self.local:
            if os.path.exists(self.path(sha256)):
                return True
            found = self._packs.find(sha256, recheck)
            if found is not None and not os.path.exists(found.pack):
                self._packs.forget()  # a collector rewrote that pack since it was listed here
                found = self._packs.find(sha256, recheck)
            return found is not None
        return bool(self.fs.exists(self.path(sha256)))

    def has_fresh(self, sha256: str) -> bool:
        """``has``, for a writer about to name the blob: a loose object found is freshened (its
        mtime set to now) in the same system call that finds it, so gc's grace period covers
        it; gc checks the mtime again after moving an object aside (``collect``)."""
        if self.local:
            try:
                os.utime(self.path(sha256))
                return True
            except FileNotFoundError:
                found = self._packs.find(sha256, False)
                return found is not None and self._freshen_pack(found.pack)
            except PermissionError:  # a store shared with others who own its files
                return self.has(sha256, recheck=False)
        age = self.remote_age(sha256)
        return age is not None and age < REMOTE_REUSE

    def remote_age(self, sha256: str) -> float | None:
        """Seconds since an object store's object was written; None when it is not there."""
        try:
            info = self.fs.info(self.path(sha256))
        except FileNotFoundError:
            return None
        when = info.get("mtime") or info.get("LastModified") or info.get("created")
        if when is None:
            return 0.0  # a store that does not say: taken as new (never collected by age)
        return time.time() - (when.timestamp() if hasattr(when, "timestamp") else float(when))

    # -- writing ----------------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> BlobInfo:
        sha = hashlib.sha256(data).hexdigest()
        if self.has_fresh(sha):
            return BlobInfo(sha, len(data))
        return self.put_stream(io.BytesIO(data))

    def put_file(self, path: str | os.PathLike[str]) -> BlobInfo:
        """Store a file; durable when this returns."""
        return self.stage_file(path).commit()

    def stage_bytes(self, data: bytes) -> Staged:
        sha = hashlib.sha256(data).hexdigest()
        info = BlobInfo(sha, len(data))
        if self.has_fresh(sha):
            return Staged(info)

        def publish() -> None:
            self.put_bytes(data)

        return Staged(info, publish=publish)

    def stage_file(self, path: str | os.PathLike[str]) -> Staged:
        """Copy a file into the store and hash the bytes stored, unpublished (see
        ``_stage_local``); the copy is made durable on a worker thread meanwhile. Registration
        commits the staged blob just before its database commit, so the fsync overlaps the SQL
        work while a record never commits ahead of the bytes it names. (Remote stores are
        written outright.)
        """
        try:
            if not self.local:
                with open(path, "rb") as stream:
                    staged = Staged(self.put_stream(stream))
                staged.source = os.path.realpath(path)
                return staged
            # os.open: Python's file object costs three more system calls (fstat, isatty, lseek)
            src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                found = os.fstat(src)
                if stat.S_ISDIR(found.st_mode):
                    raise IsADirectoryError(path)
                staged = self._stage_local(src, found.st_size)
                staged.source = local_io.opened_path(src, path)
                return staged
            finally:
                os.close(src)
        except IsADirectoryError:
            raise InvalidInput(
                f"{path}: is a directory (store its files with blobs.ingest)"
            ) from None
        except PermissionError:
            raise InvalidInput(f"{path}: permission denied") from None
        except FileNotFoundError:
            raise InvalidInput(f"{path}: no such file") from None

    def put_stream(self, src: IO[bytes]) -> BlobInfo:
        if self.local:
            return self._put_local(src)
        return self._put_remote(src)

    def _stage_local(self, src: int, size: int) -> Staged:
        """Write into an unnamed file (a named temp file where the filesystem has none), made
        durable on a worker thread, and hash exactly the bytes stored, so the address matches
        the copy even if the source changes underneath. A file up to ``direct.DIRECT_MAX`` is
        read once into a buffer that is hashed here while the worker writes it around the page
        cache (blobs/direct.py); a bigger one is copied by the kernel and the copy hashed."""
        fd, tmp = self._anonymous.take(), None
        if fd is None:
            fd, tmp = self._writer.temp(self._tmp_dir)
        try:
            buffered = self._direct.read(src, fd) if size <= direct.DIRECT_MAX else None
            if buffered is None:
                local_io.kernel_copy(src, fd, size)
        except BaseException:
            os.close(fd)
            if tmp is not None:
                os.unlink(tmp)
            raise
        syncing = _SYNC_POOL.submit(local_io.make_durable, fd, buffered)

        def drop() -> None:
            if tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            # closing under a running fsync would hand its descriptor number to someone else
            syncing.add_done_callback(lambda _: os.close(fd))

        try:
            if buffered is None:
                info = BlobInfo(*local_io.hash_of(fd))
            else:
                buf, n = buffered
                with memoryview(buf) as view, view[:n] as read:
                    info = BlobInfo(hashlib.sha256(read).hexdigest(), n)
        except BaseException:
            drop()
            raise
        finally:
            if buffered is not None:
                # back to the pool once the worker has written it too
                syncing.add_done_callback(lambda _: self._direct.release(buffered[0]))
        if self.has_fresh(info.sha256):
            drop()
            return Staged(info)  # stored already: nothing to publish

        def link(final: str) -> None:
            if tmp is None:
                self._anonymous.link(fd, final)
            else:
                os.link(tmp, final)

        def publish() -> None:
            try:
                syncing.result()
                self._place(link, info.sha256)
                # also after a direct write: some file systems accept O_DIRECT and cache anyway
                local_io.forget_pages(fd)
            finally:
                drop()

        return Staged(info, publish=publish, discard=drop)

    # -- many small files: a pack, or loose files with one filesystem sync ----------------------
    def pack_writer(self) -> PackWriter:
        """A pack for many small objects of a local store; readers see them once it commits."""
        assert self.local, "remote stores keep small objects loose"
        return PackWriter(self._packs.directory, self._writer)

    def loose_batch(self) -> LooseBatch:
        """Loose objects of a local store, made durable together when the batch commits."""
        assert self.local, "remote stores write objects one by one"
        return LooseBatch(self._tmp_dir, self._writer)

    def _link_into_place(self, tmp: str, sha: str) -> None:
        try:
            os.chmod(tmp, 0o444)
            self._place(lambda final: os.link(tmp, final), sha)
        finally:
            os.unlink(tmp)

    def _place(self, link: Callable[[str], None], sha: str) -> None:
        """Link a durable copy to its address, and make the link durable too (its directory
        synced) before returning: the caller records the address next. Unlike rename, a link
        never replaces an existing object; FileExistsError means it is stored already (earlier,
        or by a concurrent writer, whose link may not be durable yet: synced all the same)."""
        final = self.path(sha)
        fan = os.path.dirname(final)
        changed = [fan]
        try:
            link(final)
        except FileNotFoundError:  # a fan-out directory removed by hand, or a remote mount
            os.makedirs(fan, exist_ok=True)
            changed.append(self._tmp_dir)  # the new fan-out directory's own entry
            with contextlib.suppress(FileExistsError):
                link(final)
        except FileExistsError:
            pass
        pending: set[str] | None = getattr(self._batch, "dirs", None)
        if pending is None:
            sync_paths(changed, self._tmp_dir)
        else:
            pending.update(changed)

    @contextlib.contextmanager
    def one_sync(self) -> Iterator[None]:
        """Objects placed inside (in this thread) have their directories synced together on
        leaving, once per directory, instead of one sync per object; durable when it exits."""
        if getattr(self._batch, "dirs", None) is not None:
            yield  # inside another one: that one syncs
            return
        pending: set[str] = set()
        self._batch.dirs = pending
        try:
            yield
        finally:
            self._batch.dirs = None
        if pending:
            sync_paths(sorted(pending), self._tmp_dir)

    def _put_local(self, src: IO[bytes]) -> BlobInfo:
        """One pass for large files and streams: read, hash and write each chunk once."""
        fd, tmp = self._writer.temp(self._tmp_dir)
        try:
            h, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
                local_io.forget_pages(out.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        sha = h.hexdigest()
        self._link_into_place(tmp, sha)
        return BlobInfo(sha, size)

    def _put_remote(self, src: IO[bytes]) -> BlobInfo:
        """Object stores: hash into a local spool, then upload only what is missing (PUT is atomic)."""
        with tempfile.SpooledTemporaryFile(max_size=64 * CHUNK) as spool:
            h, size = hashlib.sha256(), 0
            while chunk := src.read(CHUNK):
                h.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            sha = h.hexdigest()
            final = self.path(sha)
            if not self.has_fresh(sha):
                spool.seek(0)
                self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
                with self.fs.open(final, "wb") as out:
                    while chunk := spool.read(CHUNK):
                        out.write(chunk)
            return BlobInfo(sha, size)

    # -- reading ----------------------------------------------------------------------------
    def open(self, sha256: str) -> IO[bytes]:
        """The stored bytes, not re-hashed: ``verify`` and checkout check what they read."""
        try:
            if self.local:
                return open(self.path(sha256), "rb")
            return self.fs.open(self.path(sha256), "rb")  # type: ignore[no-any-return]
        except FileNotFoundError:
            packed = self._packs.read(sha256) if self.local else None
            if packed is None:
                raise NotFound(f"blob sha256:{sha256} is not in the store {self.url}") from None
            return io.BytesIO(packed)

    def get(self, sha256: str) -> bytes:
        with self.open(sha256) as f:
            return f.read()

    def get_tree(self, sha256: str) -> Tree:
        """The tree listing named ``sha256``, checked against that hash (``parse_tree``)."""
        return parse_tree(sha256, self.get(sha256))

    def missing(self, shas: Iterable[str]) -> set[str]:
        """Those of ``shas`` that are not in the store. Packs are searched first (in memory),
        then a loose object is looked for, and freshened, by one system call each: who asks is
        about to name what is there (``has_fresh``)."""
        wanted = set(shas)
        if not self.local:  # one request each: many at once hide the network's latency
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(16) as pool:
                there = dict(zip(wanted, pool.map(self.has_fresh, wanted), strict=True))
            return {sha for sha, found in there.items() if not found}
        packed: set[str] = set()
        for pack, held in self._packs.held_by(wanted).items():
            if self._freshen_pack(pack):
                packed |= held
        return {sha for sha in wanted - packed if not self._touch(self.path(sha))}

    @property
    def packs(self) -> PackIndex:
        return self._packs

    @classmethod
    def _freshen_pack(cls, pack: str) -> bool:
        """Freshen a pack a writer reuses, then check that its index is still there: a repack
        moves the index aside before it reads the pack's mtime again (``blobs.repack``), so
        either it sees this freshening or this sees the index gone."""
        return cls._touch(pack) and os.path.exists(pack.removesuffix(".pack") + ".idx")

    @staticmethod
    def _touch(path: str) -> bool:
        try:
            os.utime(path)
            return True
        except FileNotFoundError:
            return False
        except PermissionError:
            return os.path.exists(path)

    def verify(self, sha256: str) -> bool:
        """Re-hash the stored bytes; False when they no longer match their address."""
        h = hashlib.sha256()
        with self.open(sha256) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return h.hexdigest() == sha256

    def iter_shas(self) -> Iterator[str]:
        """Each stored object once, loose or packed."""
        if not self.local:
            for path in self.fs.find(f"{self.root}/sha256"):
                parts = path.rstrip("/").split("/")
                if len(parts[-2]) == 2 and not parts[-1].startswith(".tmp-"):
                    yield parts[-2] + parts[-1]
            return
        loose: set[str] = set()
        for fan in sorted(os.listdir(self._tmp_dir)):
            if len(fan) == 2:
                loose.update(fan + name for name in os.listdir(os.path.join(self._tmp_dir, fan)))
        yield from sorted(loose)
        yield from (sha for sha in self._packs if sha not in loose)
