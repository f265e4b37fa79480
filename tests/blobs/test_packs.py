"""Pack files: round trip, reads through BlobStore, crash leftovers, concurrent writers, damage."""

import hashlib
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelledger.blobs import packs
from modelledger.blobs.packs import MAGIC, RECORD, PackIndex, PackWriter
from modelledger.blobs.store import BlobStore
from modelledger.core.errors import NotFound


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(store: BlobStore, *blobs: bytes) -> str | None:
    writer = store.pack_writer()
    for b in blobs:
        writer.add(sha(b), b)
    return writer.commit()


def pack_files(store: BlobStore) -> list[str]:
    return sorted(os.listdir(os.path.join(store.root, "packs")))


@given(st.lists(st.binary(max_size=300), max_size=40), st.sampled_from([1, 64, 8 << 20]))
@settings(max_examples=60, deadline=None)
def test_any_objects_round_trip_through_a_pack(blobs, spill):
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(packs, "_SPILL", spill):
        writer = PackWriter(os.path.join(tmp, "packs"))
        for b in blobs:
            writer.add(sha(b), b)
        assert len(writer) == len(set(blobs))  # duplicates are stored once
        name = writer.commit()
        assert (name is None) == (not blobs)
        index = PackIndex(os.path.join(tmp, "packs"))
        for b in blobs:
            assert index.read(sha(b)) == b
        assert sorted(index) == sorted({sha(b) for b in blobs})
        assert index.read(sha(b"not there")) is None


def test_index_format_and_name(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    name = pack(store, b"b", b"a", b"cc")
    idx = (tmp_path / "blobs" / "packs" / f"{name}.idx").read_bytes()
    assert name == "pack-" + hashlib.sha256(idx).hexdigest()
    assert idx.startswith(MAGIC) and (len(idx) - len(MAGIC)) == 3 * RECORD.size
    records = [RECORD.unpack_from(idx, len(MAGIC) + i * RECORD.size) for i in range(3)]
    assert [r[0] for r in records] == sorted(r[0] for r in records)
    body = (tmp_path / "blobs" / "packs" / f"{name}.pack").read_bytes()
    assert sorted(body[o : o + n] for _, o, n in records) == [b"a", b"b", b"cc"]
    assert len(body) == 4  # nothing but the objects' bytes


def test_store_reads_packed_objects_like_loose_ones(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    loose = store.put_bytes(b"loose").sha256
    pack(store, b"packed", b"", b"loose")  # also holds a copy of a loose object
    for data in (b"packed", b"", b"loose"):
        assert store.has(sha(data)) and store.verify(sha(data))
        assert store.get(sha(data)) == data
        with store.open(sha(data)) as f:
            assert f.read() == data
    assert not os.path.exists(store.path(sha(b"packed")))  # no loose file for it
    assert sorted(store.iter_shas()) == sorted({sha(b"packed"), sha(b""), loose})
    assert not store.has("0" * 64)
    with pytest.raises(NotFound):
        store.get("0" * 64)
    os.chmod(store.path(loose), 0o644)
    with open(store.path(loose), "wb") as f:
        f.write(b"LOOSE")
    assert store.get(loose) == b"LOOSE"  # the loose copy wins over the packed one


def test_empty_writer_commits_nothing(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    assert pack(store) is None
    assert not (tmp_path / "blobs" / "packs").exists()


def test_the_same_pack_twice_keeps_the_first_file(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    name = pack(store, b"x", b"y")
    inode = os.stat(tmp_path / "blobs" / "packs" / f"{name}.pack").st_ino
    assert pack(store, b"x", b"y") == name
    assert os.stat(tmp_path / "blobs" / "packs" / f"{name}.pack").st_ino == inode
    assert pack_files(store) == [f"{name}.idx", f"{name}.pack"]  # no temp files remain
    assert (
        not os.access(tmp_path / "blobs" / "packs" / f"{name}.pack", os.W_OK) or os.geteuid() == 0
    )


def test_a_pack_without_its_index_is_invisible(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    real_place = packs._place

    def crash_before_index(tmp, final):
        if final.endswith(".idx"):
            raise OSError("crash")
        real_place(tmp, final)

    with mock.patch.object(packs, "_place", crash_before_index), pytest.raises(OSError):
        pack(store, b"lost")
    assert [n for n in pack_files(store) if n.endswith(".pack")]  # the pack file exists …
    assert not store.has(sha(b"lost"))  # … but without an index nobody sees it
    assert list(store.iter_shas()) == []
    assert not [n for n in pack_files(store) if n.startswith(".tmp-")]


def test_a_discarded_writer_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(packs, "_SPILL", 1)  # bytes already in a temp file
    store = BlobStore(str(tmp_path / "blobs"))
    writer = store.pack_writer()
    writer.add(sha(b"a"), b"a")
    writer.discard()
    assert pack_files(store) == [] and not store.has(sha(b"a"))
    assert writer.commit() is None  # a discarded writer holds nothing


def test_packs_committed_by_others_are_found_on_a_miss(tmp_path):
    root = str(tmp_path / "blobs")
    reader = BlobStore(root)
    assert not reader.has(sha(b"one"))  # it has looked: packs/ was listed (or found missing)
    pack(BlobStore(root), b"one")
    assert not reader.has(sha(b"two"))
    pack(BlobStore(root), b"two")
    assert len([n for n in pack_files(reader) if n.endswith(".idx")]) == 2
    assert reader.get(sha(b"one")) == b"one" and reader.get(sha(b"two")) == b"two"
    assert sorted(reader.iter_shas()) == sorted([sha(b"one"), sha(b"two")])


def test_a_repacked_object_is_found_in_its_new_pack(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    old = pack(store, b"keep", b"drop")
    assert store.has(sha(b"keep"))  # the old index is loaded
    new = pack(BlobStore(store.root), b"keep")  # a collector repacks the survivor …
    folder = tmp_path / "blobs" / "packs"
    os.unlink(folder / f"{old}.idx")  # … then removes the old index before the old pack
    os.unlink(folder / f"{old}.pack")
    assert new != old and store.get(sha(b"keep")) == b"keep"
    assert not store.has(sha(b"drop"))


def test_a_corrupt_packed_object_fails_verification(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    name = pack(store, b"weights", b"labels")
    path = tmp_path / "blobs" / "packs" / f"{name}.pack"
    body = bytearray(path.read_bytes())
    at = body.find(b"weights")
    body[at + 3] ^= 0x01
    os.chmod(path, 0o644)
    path.write_bytes(bytes(body))
    assert not store.verify(sha(b"weights"))
    assert store.get(sha(b"weights")) != b"weights"  # readers that re-hash see the damage
    assert store.verify(sha(b"labels"))


def test_a_damaged_index_is_reported_not_trusted(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    name = pack(store, b"a", b"b")
    idx = tmp_path / "blobs" / "packs" / f"{name}.idx"
    raw = bytearray(idx.read_bytes())
    raw[-1] ^= 0x01  # a size byte: the index no longer hashes to its name
    os.chmod(idx, 0o644)
    idx.write_bytes(bytes(raw))
    fresh = BlobStore(store.root)
    assert not fresh.has(sha(b"a"))
    assert fresh._packs.damaged == [f"{name}.idx"]


def test_an_unchanged_packs_folder_is_not_listed_again(tmp_path, monkeypatch):
    store = BlobStore(str(tmp_path / "blobs"))
    pack(store, b"a")
    folder = tmp_path / "blobs" / "packs"
    os.utime(folder, ns=(1_000_000_000, 1_000_000_000))  # settled long ago
    reader = BlobStore(store.root)
    assert reader.has(sha(b"a"))
    listings = []
    real_listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda p: listings.append(p) or real_listdir(p))
    for i in range(20):
        assert not reader.has(sha(b"%d" % i))  # misses cost a stat, not a listing
    assert listings == []
    pack(BlobStore(store.root), b"b")  # a commit moves the folder's mtime
    assert reader.has(sha(b"b")) and listings == [str(folder)]


def test_threads_racing_for_the_first_load_all_find_the_object(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    pack(store, b"x")
    for _ in range(30):
        fresh = BlobStore(store.root)
        start = threading.Barrier(8)

        def look(fresh=fresh, start=start):
            start.wait()
            return fresh.has(sha(b"x"), recheck=False)

        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(lambda _: look(), range(8)))


def test_threads_adding_at_once_each_get_their_bytes_back(tmp_path, monkeypatch):
    monkeypatch.setattr(packs, "_SPILL", 3000)  # many writes, from every thread
    store = BlobStore(str(tmp_path / "blobs"))
    writer = store.pack_writer()
    blobs = [i.to_bytes(2, "big") + os.urandom(i % 700) for i in range(1600)]  # all distinct

    def add(part):
        for b in blobs[part::8]:
            writer.add(sha(b), b)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(8)))
    writer.commit()
    assert all(store.get(sha(b)) == b for b in blobs)
    body = next((tmp_path / "blobs" / "packs").glob("*.pack")).read_bytes()
    assert len(body) == sum(map(len, blobs))  # no gap, no overlap
