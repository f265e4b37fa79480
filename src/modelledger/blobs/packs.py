"""Writing many small objects at once: pack files, and loose batches.

A pack holds many small objects in one file, so that storing 20,000 small files costs a few file
creations instead of 20,000 (creating an inode, not writing its bytes, is what costs on ext4).

A pack ``<root>/packs/pack-<hex>.pack`` is the raw concatenation of its objects' bytes. Its index
``pack-<hex>.idx`` is a magic line followed by one fixed-width record per object, sorted by digest:
32-byte sha256 digest, 8-byte offset, 8-byte size (big-endian); ``<hex>`` is the sha256 of the
whole idx file. The index fixes every byte of its pack, so one name always means one content.

The idx is the commit point: it appears (by link, never replacing a file) only after its pack is
durable under its final name, so a pack without an idx is a crash leftover that readers ignore,
as are ``.tmp-*`` files. Objects in a pack cannot be deleted one by one: a collector must write
the survivors into a new pack, commit it, then unlink the old idx before the old pack.

Loose batches, the other way to write many objects at once, are in loose.py.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import os
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from modelledger.blobs.durable import fsync_path, write_all
from modelledger.blobs.writers import Writer

MAGIC = b"mledger-pack-idx 1\n"
RECORD = struct.Struct(">32sQQ")
# Past this much, gathered bytes go to the temp pack file: memory stays bounded for any ingest.
_SPILL = 8 << 20
_IOV_MAX = 1024  # buffers per writev(2) (Linux's IOV_MAX)
# A directory changed this recently may change again without its mtime moving (timestamps are
# coarse: a clock tick on ext4, two seconds on FAT), so its listing is not trusted for long.
_RACY_NS = 2_000_000_000


class Location(NamedTuple):
    pack: str  # path of the .pack file
    offset: int
    size: int


def _write_chunks(fd: int, chunks: list[bytes], offset: int) -> None:
    """Write the objects as they are at ``offset``: one pwritev per thousand, no copy into a
    Python buffer."""
    for i in range(0, len(chunks), _IOV_MAX):
        batch = chunks[i : i + _IOV_MAX]
        size = sum(map(len, batch))
        done = os.pwritev(fd, batch, offset)
        if done < size:  # a short write (a signal, a full disk): finish plainly
            rest = memoryview(b"".join(batch))[done:]
            while rest:
                n = os.pwrite(fd, rest, offset + size - len(rest))
                rest = rest[n:]
        offset += size


def _place(tmp: str, final: str) -> None:
    """Give a durable temp file its final name. A link never replaces an existing file: the same
    name means the same bytes, so an existing one (a concurrent or crashed writer's) is kept."""
    with contextlib.suppress(FileExistsError):
        os.link(tmp, final)
    os.unlink(tmp)


class PackWriter:
    """Objects gathered for one pack; nothing is visible until ``commit()``. Threads may add at
    once (each writes its share of the temp file outside the lock); all adds must have returned
    before ``commit()`` or ``discard()``."""

    def __init__(self, directory: str, writer: Writer | None = None) -> None:
        self.directory = directory
        self._writer = writer or Writer(os.path.dirname(directory))
        self._lock = threading.Lock()
        self._objects: dict[bytes, tuple[int, int]] = {}  # digest → (offset, size)
        self._pending: list[bytes] = []  # objects not yet written to the temp file
        self._pending_size = 0
        self._spilled = 0  # bytes already written to it
        self._fd: int | None = None
        self._tmp: str | None = None
        self._made_dir = False

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, sha256: str) -> bool:
        return bytes.fromhex(sha256) in self._objects

    def add(self, sha256: str, data: bytes) -> None:
        """Add an object (the caller vouches that ``sha256`` is the hash of ``data``)."""
        digest = bytes.fromhex(sha256)
        with self._lock:
            if digest in self._objects:
                return
            self._objects[digest] = (self._spilled + self._pending_size, len(data))
            self._pending.append(data)
            self._pending_size += len(data)
            if self._pending_size < _SPILL:
                return
            fd, chunks, offset = self._take()
        # written outside the lock: other threads go on adding (and writing) meanwhile
        _write_chunks(fd, chunks, offset)

    def _take(self) -> tuple[int, list[bytes], int]:
        """The pending objects, the temp file and where they go in it; the caller writes them."""
        if self._fd is None:
            self._made_dir = not os.path.isdir(self.directory)
            os.makedirs(self.directory, exist_ok=True)
            self._fd, self._tmp = self._writer.temp(self.directory)
        taken = (self._fd, self._pending, self._spilled)
        self._spilled += self._pending_size
        self._pending, self._pending_size = [], 0
        return taken

    def commit(self) -> str | None:
        """Make the pack durable, then visible; its name, or None when it holds nothing."""
        with self._lock:
            if not self._objects:
                return None
            idx_tmp = None
            try:
                _write_chunks(*self._take())
                assert self._fd is not None and self._tmp is not None
                os.fchmod(self._fd, 0o444)
                os.fsync(self._fd)
                records = (RECORD.pack(d, *where) for d, where in sorted(self._objects.items()))
                idx = MAGIC + b"".join(records)
                name = "pack-" + hashlib.sha256(idx).hexdigest()
                fd, idx_tmp = self._writer.temp(self.directory)
                try:
                    write_all(fd, idx)
                    os.fchmod(fd, 0o444)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                final = os.path.join(self.directory, name)
                _place(self._tmp, final + ".pack")
                self._tmp = None
                fsync_path(self.directory)  # the pack's name is durable before its idx exists
                _place(idx_tmp, final + ".idx")
                idx_tmp = None
                fsync_path(self.directory)
                if self._made_dir:
                    fsync_path(os.path.dirname(self.directory))
                return name
            finally:
                if idx_tmp is not None:
                    os.unlink(idx_tmp)
                self._drop()

    def discard(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
        self._fd = self._tmp = None
        self._objects.clear()
        self._pending, self._pending_size = [], 0
        self._spilled = 0


class _Pack:
    """One index, kept as its raw records (48 bytes an object) and searched by bisection after a
    first-byte fan-out, so loading it costs no work per object."""

    __slots__ = ("_body", "_fan", "_listed", "path")

    def __init__(self, path: str, body: bytes) -> None:
        self.path = path
        self._body = body
        self._listed: set[str] | None = None
        firsts = body[0 :: RECORD.size]
        self._fan = [bisect.bisect_left(firsts, b) for b in range(257)]

    def _digest(self, i: int) -> bytes:
        return self._body[i * RECORD.size : i * RECORD.size + 32]

    def find(self, digest: bytes) -> tuple[int, int] | None:
        lo, hi = self._fan[digest[0]], self._fan[digest[0] + 1]
        i = bisect.bisect_left(range(hi), digest, lo, hi, key=self._digest)
        if i < hi and self._digest(i) == digest:
            _, offset, size = RECORD.unpack_from(self._body, i * RECORD.size)
            return offset, size
        return None

    def digests(self) -> Iterator[bytes]:
        for i in range(len(self._body) // RECORD.size):
            yield self._digest(i)

    def holding(self, shas: set[str]) -> set[str]:
        """Those of ``shas`` this pack holds: for many look-ups at once, the pack's digests are
        listed once, as a set of hex names (one ``hex()`` of the whole index, then slices), and
        intersected without a Python call per look-up."""
        if self._listed is None:
            text, step = self._body.hex(), 2 * RECORD.size
            self._listed = {text[i : i + 64] for i in range(0, len(text), step)}
        return shas & self._listed


def _load(path: str, name: str) -> _Pack | None:
    """An index, or None when it is damaged (its name is the hash of its bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    if index_problem(raw, name):
        return None
    return _Pack(path.removesuffix(".idx") + ".pack", raw[len(MAGIC) :])


def index_problem(raw: bytes, name: str) -> str | None:
    """What is wrong with the bytes ``raw`` of the index ``name``.idx, or None: for fsck, which
    names the damage, and for readers, which ignore a damaged index."""
    body = raw[len(MAGIC) :]
    if not raw.startswith(MAGIC):
        return "not a pack index (its first line is not the format's)"
    if len(body) % RECORD.size:
        return f"truncated or padded: {len(body)} bytes of records, not a multiple of {RECORD.size}"
    if "pack-" + hashlib.sha256(raw).hexdigest() != name:
        return "its bytes do not hash to its name (edited or corrupt)"
    return None


class PackIndex:
    """Every committed pack in a directory, loaded lazily. A miss re-lists the directory, since
    another process may have committed a pack since; an unchanged directory is not re-listed."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.damaged: list[str] = []  # indexes that failed their check, for fsck to report
        self._packs: dict[str, _Pack] = {}  # idx name → pack; replaced whole, never mutated
        self._seen: tuple[int, int] | None = None  # (inode, mtime) of the directory last listed
        self._loaded = False  # listed at least once
        self._lock = threading.Lock()

    def find(self, sha256: str, recheck: bool = True) -> Location | None:
        """Where a pack holds the object; on a miss, ``recheck`` looks for new packs first."""
        digest = bytes.fromhex(sha256)
        packs = self._packs
        found = self._find(digest, packs)
        if found is None:
            if recheck or not self._loaded:
                self._refresh()
            if self._packs is not packs:  # loaded since, in this thread or another
                found = self._find(digest, self._packs)
        return found

    def held(self, shas: Iterable[str]) -> set[str]:
        """Those of ``shas`` that some pack holds (new packs looked for first)."""
        return set().union(*self.held_by(shas).values())

    def held_by(self, shas: Iterable[str]) -> dict[str, set[str]]:
        """Those of ``shas`` that some pack holds, by the .pack path holding them."""
        self._refresh()
        left = set(shas)
        holders: dict[str, set[str]] = {}
        for pack in self._packs.values():
            if not left:
                break
            found = pack.holding(left)
            if found:
                left -= found
                holders[pack.path] = found
        return holders

    def listed(self) -> list[tuple[str, list[tuple[str, int, int]]]]:
        """Each committed pack's .idx path and its objects (sha256, offset, size), freshly
        listed: for a collector rewriting packs."""
        self._seen = None
        self._refresh()
        out = []
        for name, pack in sorted(self._packs.items()):
            records = RECORD.iter_unpack(pack._body)
            out.append(
                (os.path.join(self.directory, name), [(d.hex(), o, n) for d, o, n in records])
            )
        return out

    def forget(self) -> None:
        """List the directory afresh (a pack was removed here)."""
        self._seen = None
        self._refresh()

    @staticmethod
    def _find(digest: bytes, packs: dict[str, _Pack]) -> Location | None:
        for pack in packs.values():
            where = pack.find(digest)
            if where is not None:
                return Location(pack.path, *where)
        return None

    def read(self, sha256: str) -> bytes | None:
        """The object's bytes as stored (not re-hashed), or None when no pack holds it."""
        for _ in range(2):
            where = self.find(sha256)
            if where is None:
                return None
            try:
                fd = os.open(where.pack, os.O_RDONLY)
            except FileNotFoundError:  # repacked and removed since we listed: look again
                self._seen = None
                self._refresh()
                continue
            try:
                return os.pread(fd, where.size, where.offset)
            finally:
                os.close(fd)
        return None

    def __iter__(self) -> Iterator[str]:
        self._refresh()
        seen: set[bytes] = set()
        for pack in self._packs.values():
            for digest in pack.digests():
                if digest not in seen:
                    seen.add(digest)
                    yield digest.hex()

    def _refresh(self) -> None:
        """Load indexes not seen yet, and forget removed ones."""
        with self._lock:
            try:
                st = os.stat(self.directory)
            except FileNotFoundError:
                self._loaded = True
                return
            stamp = (st.st_ino, st.st_mtime_ns)
            if stamp == self._seen:
                return
            # a directory changed within the racy window may change again unseen: list it again
            # next time rather than trusting its stamp
            fresh = time.time_ns() - st.st_mtime_ns > _RACY_NS
            names = {n for n in os.listdir(self.directory) if n.endswith(".idx")}
            packs = {n: p for n, p in self._packs.items() if n in names}
            for name in sorted(names - packs.keys() - set(self.damaged)):
                with contextlib.suppress(FileNotFoundError):  # removed since the listing
                    pack = _load(os.path.join(self.directory, name), name.removesuffix(".idx"))
                    if pack is None:
                        self.damaged.append(name)
                    else:
                        packs[name] = pack
            if packs.keys() != self._packs.keys():
                self._packs = packs
            self._seen = stamp if fresh else None
            self._loaded = True  # last: another thread skips loading only once this is done
