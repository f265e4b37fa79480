"""Everything a blob store holds, listed and re-hashed for ``fsck``: loose objects, pack files
and their indexes, temp files, and whatever else lies in the store's folders.

Listing comes first (stat only), so that the progress bar knows the total; re-hashing then runs
on a pool of threads: hashlib lets go of the GIL while it hashes, so the threads hash on every
core at once, reading in large chunks.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import mmap
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

from modelledger.blobs.packs import MAGIC, RECORD, index_problem
from modelledger.blobs.store import BlobStore
from modelledger.blobs.writers import TEMP_PREFIX

_HEX62 = re.compile(r"^[0-9a-f]{62}$")
# an object gc moved aside before removing it (BlobStore.collect): still that object until then
_ASIDE = re.compile(r"^([0-9a-f]{62})\.gc-\d+$")
_PACK = re.compile(r"^pack-[0-9a-f]{64}$")
_IDX_ASIDE = re.compile(r"^(pack-[0-9a-f]{64}\.idx)\.gc-\d+$")
READ = 8 << 20  # bytes per read: large, so a read costs little next to hashing what it read
_PACK_JOB = 64 << 20  # packed bytes per pool task: a big pack spreads over the threads


@dataclass(frozen=True)
class Problem:
    """Something wrong with a file of the store itself (not a named object)."""

    kind: str
    path: str
    detail: str


class Copy(NamedTuple):  # tuples: a store holds millions of these
    """One stored copy of an object: loose (``offset`` None) or in a pack."""

    sha256: str
    path: str
    size: int
    offset: int | None = None


@dataclass
class Inventory:
    loose: list[Copy] = field(default_factory=list)
    packed: dict[str, list[Copy]] = field(default_factory=dict)  # .pack path → its objects
    temps: list[str] = field(default_factory=list)  # paths of temp files
    problems: list[Problem] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(c.size for c in self.loose) + sum(
            c.size for copies in self.packed.values() for c in copies
        )


class Hashed(NamedTuple):
    """A copy whose bytes were read: ``actual`` is what they hash to (None: unreadable)."""

    copy: Copy
    actual: str | None
    error: str | None = None

    @property
    def sound(self) -> bool:
        return self.actual == self.copy.sha256


def take_inventory(store: BlobStore) -> Inventory:
    found = Inventory()
    if not store.local:
        _remote(store, found)
        return found
    objects = os.path.join(store.root, "sha256")
    with os.scandir(objects) as it:
        top = sorted(it, key=lambda e: e.name)
    for entry in top:
        if entry.name.startswith(TEMP_PREFIX):
            found.temps.append(entry.path)
        elif len(entry.name) == 2 and entry.is_dir(follow_symlinks=False):
            _fan_out(entry.name, entry.path, found)
        else:
            found.problems.append(Problem("unexpected-file", entry.path, "not part of a store"))
    _packs(os.path.join(store.root, "packs"), found)
    return found


def _fan_out(fan: str, folder: str, found: Inventory) -> None:
    with os.scandir(folder) as it:
        for entry in sorted(it, key=lambda e: e.name):
            aside = _ASIDE.match(entry.name)
            if (_HEX62.match(entry.name) or aside) and entry.is_file(follow_symlinks=False):
                size = entry.stat(follow_symlinks=False).st_size
                name = aside.group(1) if aside else entry.name
                found.loose.append(Copy(fan + name, entry.path, size))
            else:
                found.problems.append(
                    Problem(
                        "unexpected-file", entry.path, "not an object's name in a fan-out folder"
                    )
                )


def _packs(folder: str, found: Inventory) -> None:
    try:
        names = set(os.listdir(folder))
    except FileNotFoundError:
        return
    # an index a repack moved aside (blobs.repack): still that index until the next gc
    aside = {m.group(1): n for n in names if (m := _IDX_ASIDE.match(n))}
    for name in sorted(names):
        path = os.path.join(folder, name)
        if name in aside.values():
            stem = name.partition(".gc-")[0].removesuffix(".idx")
            if stem + ".pack" not in names:
                found.temps.append(path)  # its pack went: a leftover of the repack
            elif stem + ".idx" not in names:
                _index(path, stem, True, found)
            continue
        stem, dot, ext = name.rpartition(".")
        if name.startswith(TEMP_PREFIX):
            found.temps.append(path)
        elif not (dot and _PACK.match(stem) and ext in ("pack", "idx")):
            found.problems.append(Problem("unexpected-file", path, "not a pack or pack index"))
        elif ext == "pack" and stem + ".idx" not in names and stem + ".idx" not in aside:
            found.problems.append(
                Problem(
                    "pack-without-index",
                    path,
                    f"{os.path.getsize(path):,} bytes no index lists: readers ignore them "
                    "(a crashed writer's leftover, or its index was removed)",
                )
            )
        elif ext == "idx":
            _index(path, stem, stem + ".pack" in names, found)


def _index(path: str, name: str, has_pack: bool, found: Inventory) -> None:
    with open(path, "rb") as f:
        raw = f.read()
    problem = index_problem(raw, name)
    if problem is not None:
        found.problems.append(Problem("damaged-index", path, problem + "; readers ignore it"))
        return
    pack = os.path.join(os.path.dirname(path), name + ".pack")
    if not has_pack:
        found.problems.append(Problem("index-without-pack", path, "its pack file is missing"))
        return
    records = [(d.hex(), off, n) for d, off, n in RECORD.iter_unpack(raw[len(MAGIC) :])]
    digests = [r[0] for r in records]
    if any(a >= b for a, b in itertools.pairwise(digests)):
        found.problems.append(
            Problem("damaged-index", path, "records out of order or repeated; lookups miss")
        )
        return
    size = os.path.getsize(pack)
    end = 0
    for _, offset, n in sorted(records, key=lambda r: r[1]):
        if offset != end:
            what = "a gap" if offset > end else "overlapping objects"
            found.problems.append(
                Problem("pack-layout", pack, f"{what} at byte {min(offset, end):,} of the pack")
            )
            break
        end = offset + n
    if end > size:
        found.problems.append(
            Problem("truncated-pack", pack, f"{size:,} bytes; its index lists {end:,}")
        )
    elif end < size:
        found.problems.append(
            Problem("pack-layout", pack, f"{size - end:,} bytes after its last object")
        )
    found.packed[pack] = [Copy(sha, pack, n, off) for sha, off, n in records]


def _remote(store: BlobStore, found: Inventory) -> None:
    listing = store.fs.find(f"{store.root}/sha256", detail=True)
    for path, info in sorted(listing.items()):
        parts = path.rstrip("/").split("/")
        if len(parts[-2]) == 2 and _HEX62.match(parts[-1]):
            found.loose.append(Copy(parts[-2] + parts[-1], path, int(info.get("size") or 0)))
        elif not parts[-1].startswith(TEMP_PREFIX):
            found.problems.append(Problem("unexpected-file", path, "not part of a store"))


def rehash(
    store: BlobStore, found: Inventory, on_bytes: Callable[[int], None], workers: int
) -> Iterator[Hashed]:
    """Every copy in the inventory, hashed (in no particular order)."""
    jobs: list[Callable[[], list[Hashed]]] = []
    for copy in sorted(found.loose, key=lambda c: -c.size):  # big ones first: they spread
        jobs.append(functools.partial(_loose, store, copy, on_bytes))
    for pack, copies in found.packed.items():
        batch: list[Copy] = []
        size = 0
        for copy in sorted(copies, key=lambda c: c.offset or 0):
            batch.append(copy)
            size += copy.size
            if size >= _PACK_JOB:
                jobs.append(functools.partial(_packed, pack, batch, on_bytes))
                batch, size = [], 0
        if batch:
            jobs.append(functools.partial(_packed, pack, batch, on_bytes))
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="mledger-fsck") as pool:
        for done in pool.map(lambda job: job(), jobs):
            yield from done


def _loose(store: BlobStore, copy: Copy, on_bytes: Callable[[int], None]) -> list[Hashed]:
    h, seen = hashlib.sha256(), 0
    try:
        if store.local:
            fd = os.open(copy.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
                buf = bytearray(min(READ, max(copy.size, 1)))
                view = memoryview(buf)
                while n := os.readv(fd, [buf]):
                    h.update(view[:n])
                    seen += n
                    on_bytes(n)
            finally:
                os.close(fd)
        else:
            with store.fs.open(copy.path, "rb") as f:
                while chunk := f.read(READ):
                    h.update(chunk)
                    seen += len(chunk)
                    on_bytes(len(chunk))
    except OSError as exc:
        return [Hashed(copy, None, f"unreadable: {exc.strerror or exc}")]
    on_bytes(copy.size - seen)  # a copy that shrank since it was listed still counts as done
    return [Hashed(copy, h.hexdigest())]


def _packed(pack: str, copies: list[Copy], on_bytes: Callable[[int], None]) -> list[Hashed]:
    """The objects of one stretch of a pack, hashed from a mapping of it (no copy made)."""
    try:
        fd = os.open(pack, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        return [Hashed(c, None, f"unreadable: {exc.strerror or exc}") for c in copies]
    out = []
    try:
        size = os.fstat(fd).st_size
        mapped = mmap.mmap(fd, size, access=mmap.ACCESS_READ) if size else None
        try:
            view = memoryview(mapped) if mapped is not None else memoryview(b"")
            with view:
                for c in copies:
                    start = c.offset or 0
                    if start + c.size > size:
                        out.append(Hashed(c, None, "beyond the end of its pack (truncated)"))
                    else:
                        with view[start : start + c.size] as part:
                            out.append(Hashed(c, hashlib.sha256(part).hexdigest()))
                    on_bytes(c.size)
        finally:
            if mapped is not None:
                mapped.close()
    finally:
        os.close(fd)
    return out
