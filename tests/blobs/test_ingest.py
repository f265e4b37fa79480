"""Ingest: small files into one pack, medium ones loose, large ones copied; all or nothing."""

import hashlib
import os
import threading
import time
import uuid
from types import SimpleNamespace

import pytest

from modelledger.blobs import ingest
from modelledger.blobs.hashcache import HashCache
from modelledger.blobs.ingest import Ingest, scan
from modelledger.blobs.store import BlobStore
from modelledger.core.errors import InvalidInput
from tests.conftest import write


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def limits(monkeypatch):
    """Small: ≤ 10 bytes (packed from 3 files on; read by the caller up to 5 bytes);
    medium: ≤ 100 bytes; large beyond."""
    monkeypatch.setattr(ingest, "PACKED_MAX", 10)
    monkeypatch.setattr(ingest, "SERIAL_MAX", 5)
    monkeypatch.setattr(ingest, "SMALL", 100)
    monkeypatch.setattr(ingest, "PACK_MIN", 3)


def packs_in(store: BlobStore) -> list[str]:
    folder = os.path.join(store.root, "packs")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def temps_in(store: BlobStore) -> list[str]:
    sha_dir = os.path.join(store.root, "sha256")
    return [n for n in os.listdir(sha_dir) if n.startswith(".tmp-")] + [
        n for n in packs_in(store) if n.startswith(".tmp-")
    ]


def ingest_folder(store, folder, cache=None):
    job = Ingest(store, cache)
    entries = job.run(scan([folder]))
    job.commit()
    return {e.path: e for e in entries}


def test_each_size_goes_to_its_place(tmp_path, limits):
    small = {f"s/{i}.txt": f"small {i}".encode() for i in range(4)}
    small["s/dup.txt"] = small["s/0.txt"]  # same bytes twice: one object
    medium = {"m.bin": os.urandom(50)}
    large = {"l.bin": os.urandom(500)}
    for rel, data in {**small, **medium, **large}.items():
        write(tmp_path / "d" / rel, data)
    store = BlobStore(str(tmp_path / "blobs"))
    entries = ingest_folder(store, tmp_path / "d")

    for rel, data in {**small, **medium, **large}.items():
        assert entries[rel].sha256 == sha(data) and entries[rel].size == len(data)
        assert store.get(sha(data)) == data and store.verify(sha(data))
    assert [os.path.exists(store.path(sha(d))) for d in small.values()] == [False] * 5
    assert os.path.exists(store.path(sha(medium["m.bin"])))
    assert os.path.exists(store.path(sha(large["l.bin"])))
    assert [n.rsplit(".", 1)[1] for n in packs_in(store)] == ["idx", "pack"]  # one pack
    assert len(list(store._packs)) == 4
    assert temps_in(store) == []


def test_few_small_files_stay_loose(tmp_path, limits):
    write(tmp_path / "d" / "a", b"a")
    write(tmp_path / "d" / "b", b"b")
    store = BlobStore(str(tmp_path / "blobs"))
    ingest_folder(store, tmp_path / "d")
    assert os.path.exists(store.path(sha(b"a"))) and packs_in(store) == []


def test_objects_already_stored_are_not_packed_again(tmp_path, limits):
    store = BlobStore(str(tmp_path / "blobs"))
    store.put_bytes(b"loose")
    for i in range(3):
        write(tmp_path / "one" / f"{i}", f"first {i}".encode())
    ingest_folder(store, tmp_path / "one")
    first_pack = packs_in(store)

    write(tmp_path / "two" / "loose", b"loose")
    for i in range(3):
        write(tmp_path / "two" / f"{i}", f"first {i}".encode())  # packed already
    write(tmp_path / "two" / "new", b"new")
    ingest_folder(BlobStore(store.root), tmp_path / "two")

    second = [n for n in packs_in(store) if n not in first_pack]
    assert len(second) == 2  # a new pack (idx + pack) …
    new_pack = tmp_path / "blobs" / "packs" / next(n for n in second if n.endswith(".pack"))
    assert new_pack.read_bytes() == b"new"  # … holding only what was not stored yet
    assert sorted(BlobStore(store.root).iter_shas()) == sorted(
        [sha(b"loose"), sha(b"new"), *(sha(f"first {i}".encode()) for i in range(3))]
    )


def test_a_failed_ingest_leaves_nothing_visible(tmp_path, limits, monkeypatch):
    monkeypatch.setattr("modelledger.blobs.packs._SPILL", 1)  # packed bytes already on disk
    for i in range(5):
        write(tmp_path / "d" / f"s{i}", f"small {i}".encode())
    write(tmp_path / "d" / "m", os.urandom(50))
    write(tmp_path / "d" / "z_large", os.urandom(500))
    write(tmp_path / "d" / "zz_small", b"last")
    files = scan([tmp_path / "d"])
    write(tmp_path / "d" / "zz_small", b"changed!")  # after the scan, before the read
    store = BlobStore(str(tmp_path / "blobs"))
    cache = HashCache(tmp_path / "cache.sqlite", store.url)
    job = Ingest(store, cache)
    with pytest.raises(InvalidInput, match="changed while being snapshotted"):
        job.run(files)
    job.discard()
    assert list(store.iter_shas()) == [] and packs_in(store) == [] and temps_in(store) == []
    assert cache.lookup(f.key for f in files) == {}  # nothing remembered for unstored bytes
    cache.close()


def _settling(path):
    """Give ``path`` an mtime just ahead of the clock: still settling however slow the test runs."""
    ahead = time.time_ns() + 3_600 * 10**9
    os.utime(path, ns=(ahead, ahead))


def test_hashes_are_remembered_once_committed(tmp_path, limits):
    for i in range(4):
        write(tmp_path / "d" / f"{i}", f"small {i}".encode())
        _settling(tmp_path / "d" / f"{i}")
    os.utime(tmp_path / "d" / "0", ns=(1_000_000_000, 1_000_000_000))  # old enough to trust
    store = BlobStore(str(tmp_path / "blobs"))
    cache = HashCache(tmp_path / "cache.sqlite", store.url)
    files = scan([tmp_path / "d"])
    job = Ingest(store, cache)
    job.run(files)
    assert cache.lookup(f.key for f in files) == {}
    job.commit()
    assert cache.lookup(f.key for f in files) == {files[0].key.path: sha(b"small 0")}
    cache.close()


def test_a_file_young_when_read_is_not_trusted_however_late_the_commit(
    tmp_path, limits, monkeypatch
):
    write(tmp_path / "d" / "young", b"young")
    written = time.time_ns() - 60 * 10**9  # by the wall clock, long settled by commit time
    os.utime(tmp_path / "d" / "young", ns=(written, written))
    store = BlobStore(str(tmp_path / "blobs"))
    cache = HashCache(tmp_path / "cache.sqlite", store.url)
    files = scan([tmp_path / "d"])
    job = Ingest(store, cache)
    read_at = files[0].key.mtime_ns + 1_000  # read a microsecond after its last write
    monkeypatch.setattr(ingest, "time", SimpleNamespace(time_ns=lambda: read_at))
    job.run(files)
    # committed a minute later
    monkeypatch.setattr(ingest, "time", SimpleNamespace(time_ns=lambda: read_at + 60 * 10**9))
    job.commit()
    assert cache.lookup(f.key for f in files) == {}
    cache.close()


def test_tiny_files_are_read_by_the_calling_thread(tmp_path, limits, monkeypatch):
    for i in range(4):
        write(tmp_path / "d" / f"s{i}", f"s{i}".encode())
    write(tmp_path / "d" / "small", b"0123456789")  # packed, but read by the pool
    write(tmp_path / "d" / "large", os.urandom(500))
    readers: dict[str, str] = {}
    real = Ingest._small

    def spy(self, f, **kw):
        sha = real(self, f, **kw)
        if sha is not None:
            readers[os.path.basename(f.key.path)] = threading.current_thread().name
        return sha

    monkeypatch.setattr(Ingest, "_small", spy)
    store = BlobStore(str(tmp_path / "blobs"))
    ingest_folder(store, tmp_path / "d")
    me = threading.current_thread().name
    assert [readers[f"s{i}"] for i in range(4)] == [me] * 4
    assert readers["small"] != me and "large" not in readers
    assert len(list(store._packs)) == 5 and not os.path.exists(store.path(sha(b"0123456789")))


def test_remote_store_takes_small_files_one_by_one(tmp_path, limits):
    for i in range(5):
        write(tmp_path / "d" / f"{i}", f"small {i}".encode())
    write(tmp_path / "d" / "large", b"L" * 500)
    store = BlobStore(f"memory://ingest-{uuid.uuid4().hex}")
    entries = ingest_folder(store, tmp_path / "d")
    assert len(entries) == 6
    for i in range(5):
        assert store.get(sha(f"small {i}".encode())) == f"small {i}".encode()
    assert store.get(sha(b"L" * 500)) == b"L" * 500
    assert len(list(store.iter_shas())) == 6


def test_tiny_files_not_in_the_page_cache_are_read_by_the_pool(tmp_path, limits, monkeypatch):
    paths = [write(tmp_path / "d" / f"s{i}", f"s{i}".encode()) for i in range(4)]
    probe = write(tmp_path / "probe", b"p")
    for p in [*paths[:2], probe]:  # evict these from the page cache
        fd = os.open(p, os.O_RDONLY)
        os.fsync(fd)  # only clean pages can be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    fd = os.open(probe, os.O_RDONLY)
    evicted = ingest._read_cached(fd, 1) is None  # (a miss starts reading it in)
    os.close(fd)
    if not evicted:
        pytest.skip("this filesystem keeps files cached (tmpfs?)")
    readers: dict[str, str] = {}
    real = Ingest._small

    def spy(self, f, **kw):
        sha = real(self, f, **kw)
        if sha is not None:
            readers[os.path.basename(f.key.path)] = threading.current_thread().name
        return sha

    monkeypatch.setattr(Ingest, "_small", spy)
    store = BlobStore(str(tmp_path / "blobs"))
    entries = ingest_folder(store, tmp_path / "d")
    me = threading.current_thread().name
    assert readers["s0"] != me and readers["s1"] != me
    assert readers["s2"] == me and readers["s3"] == me
    assert [store.get(entries[f"s{i}"].sha256) for i in range(4)] == [b"s0", b"s1", b"s2", b"s3"]
