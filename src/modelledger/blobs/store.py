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
import fcntl
import functools
import hashlib
import io
import mmap
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from modelledger.blobs import direct
from modelledger.blobs.anonymous import AnonymousFiles
from modelledger.blobs.packs import LooseBatch, PackIndex, PackWriter
from modelledger.blobs.tree import Tree
from modelledger.core.errors import InvalidInput, NotFound
from modelledger.core.workers import ProcessPool

CHUNK = 1 << 20
_FICLONE: int | None = 0x40049409 if os.uname().sysname == "Linux" else None
_SYNC_POOL = ProcessPool(4, "mledger-fsync")


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


def _forget_pages(fd: int) -> None:
    """Drop a durable stored copy's pages from the page cache. The copy is written once and read
    rarely (verify, serving's load), and the source's pages are cached anyway; freed at once,
    its pages serve the next copy. Kept instead, every registration grows the cache by its
    artifact: on a VM whose memory the host backs on first touch (Firecracker, our benchmark
    machine), each new page then costs a host fault, which made a copy several times slower.
    Called after the fsync (only clean pages can be dropped) and the hash."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _make_durable(fd: int, buffered: tuple[mmap.mmap, int] | None) -> None:
    """On a worker, for ``_stage_local``: the staged copy read-only, as every stored object is,
    and on disk; written from ``buffered`` first when the bytes are in a direct-I/O buffer."""
    os.fchmod(fd, 0o444)  # the descriptor stays writable: modes are checked at open
    if buffered is None:
        os.fsync(fd)
    else:
        direct.write_durably(fd, *buffered)


def _hash_of(fd: int) -> BlobInfo:
    """The address of an open file's bytes: one call into the hash, which lets go of the GIL."""
    size = os.fstat(fd).st_size
    if size == 0:
        return BlobInfo(hashlib.sha256().hexdigest(), 0)
    with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mapped:
        return BlobInfo(hashlib.sha256(mapped).hexdigest(), size)


def _opened_path(fd: int, path: str | os.PathLike[str]) -> str:
    """Where the open file ``fd`` (opened as ``path``) is, symbolic links followed: the file
    actually read, even if a link on the way changed since. One system call on Linux."""
    try:
        found = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        found = ""
    if found.startswith("/") and not found.endswith(" (deleted)"):
        return found
    return os.path.realpath(path)  # no /proc, or the file was removed since it was read


def _kernel_copy(infd: int, fd: int, size: int) -> None:
    """A reflink (copy-on-write: no bytes copied) where the filesystem offers it, else
    copy_file_range (no bytes through Python), else a plain copy."""
    offset = 0
    if _FICLONE is not None:
        try:
            fcntl.ioctl(fd, _FICLONE, infd)
            return
        except OSError:
            pass  # not a reflinking filesystem (ext4) or another filesystem than the store's
    try:
        while offset < size:
            n = os.copy_file_range(infd, fd, size - offset, offset, offset)
            if n == 0:
                break
            offset += n
        return
    except OSError:
        if offset:
            raise
    while chunk := os.read(infd, CHUNK):
        os.write(fd, chunk)


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

    @functools.cached_property
    def fs_and_root(self) -> tuple[Any, str]:
        import fsspec

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
            return self._packs.find(sha256, recheck) is not None
        return bool(self.fs.exists(self.path(sha256)))

    # -- writing ----------------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> BlobInfo:
        sha = hashlib.sha256(data).hexdigest()
        if self.has(sha, recheck=False):
            return BlobInfo(sha, len(data))
        return self.put_stream(io.BytesIO(data))

    def put_file(self, path: str | os.PathLike[str]) -> BlobInfo:
        """Store a file; durable when this returns."""
        return self.stage_file(path).commit()

    def stage_bytes(self, data: bytes) -> Staged:
        sha = hashlib.sha256(data).hexdigest()
        info = BlobInfo(sha, len(data))
        if self.has(sha, recheck=False):
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
                staged.source = _opened_path(src, path)
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
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self._tmp_dir)
        try:
            buffered = self._direct.read(src, fd) if size <= direct.DIRECT_MAX else None
            if buffered is None:
                _kernel_copy(src, fd, size)
        except BaseException:
            os.close(fd)
            if tmp is not None:
                os.unlink(tmp)
            raise
        syncing = _SYNC_POOL.submit(_make_durable, fd, buffered)

        def drop() -> None:
            if tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            # closing under a running fsync would hand its descriptor number to someone else
            syncing.add_done_callback(lambda _: os.close(fd))

        try:
            if buffered is None:
                info = _hash_of(fd)
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
        if self.has(info.sha256, recheck=False):
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
                if buffered is None:
                    _forget_pages(fd)  # (a direct write left none in the cache)
            finally:
                drop()

        return Staged(info, publish=publish, discard=drop)

    # -- many small files: a pack, or loose files with one filesystem sync ----------------------
    def pack_writer(self) -> PackWriter:
        """A pack for many small objects of a local store; readers see them once it commits."""
        assert self.local, "remote stores keep small objects loose"
        return PackWriter(self._packs.directory)

    def loose_batch(self) -> LooseBatch:
        """Loose objects of a local store, made durable together when the batch commits."""
        assert self.local, "remote stores write objects one by one"
        return LooseBatch(self._tmp_dir)

    def _link_into_place(self, tmp: str, sha: str) -> None:
        try:
            os.chmod(tmp, 0o444)
            self._place(lambda final: os.link(tmp, final), sha)
        finally:
            os.unlink(tmp)

    def _place(self, link: Callable[[str], None], sha: str) -> None:
        """Link a durable copy to its address. Unlike rename, a link never replaces an existing
        object; FileExistsError means it is stored already (earlier, or by a concurrent writer)."""
        final = self.path(sha)
        try:
            link(final)
        except FileNotFoundError:  # a fan-out directory removed by hand, or a remote mount
            os.makedirs(os.path.dirname(final), exist_ok=True)
            with contextlib.suppress(FileExistsError):
                link(final)
        except FileExistsError:
            pass

    def _put_local(self, src: IO[bytes]) -> BlobInfo:
        """One pass for large files and streams: read, hash and write each chunk once."""
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self._tmp_dir)
        try:
            h, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
                _forget_pages(out.fileno())
        except BaseException:
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
            if not self.fs.exists(final):
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
        import json

        return Tree.from_json(json.loads(self.get(sha256)))

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
