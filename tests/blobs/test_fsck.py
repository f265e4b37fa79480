"""``mledger fsck`` and the store check under it: what records name (trees followed), remote
stores, output, the writer claims that tell live temp files from leftovers, and durable links."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from modelledger.blobs import durable, writers
from modelledger.blobs.fsck import Named, fsck
from modelledger.blobs.store import BlobStore
from modelledger.blobs.tree import Tree, TreeEntry
from modelledger.core.errors import CheckFailed
from tests.blobs.conftest import Stocked, sha


def kinds(report):
    return sorted((d.kind, d.target) for d in report.damage)


def tree_of(store, *files):
    entries = [
        TreeEntry(name, store.put_bytes(data).sha256, len(data), 0o644) for name, data in files
    ]
    tree = Tree.of(entries)
    store.put_bytes(tree.canonical())
    return tree


def test_fsck_on_a_fresh_ledger(ledger_cli):
    report = json.loads(ledger_cli("fsck", "--json").stdout)
    assert report["ok"] and report["objects"] == 0


def test_damage_is_named_on_stderr_with_exit_1(stocked: Stocked):
    stocked.loose(stocked.artifact_sha).unlink()
    out = stocked.cli("fsck", code=1)
    assert f"missing-object: {stocked.artifact_sha}: not in the store; named by mv-" in out.stderr
    assert out.stdout.startswith("DAMAGED (1 problems): ")


def test_a_tree_is_followed_to_its_files_and_their_sizes(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    tree = tree_of(store, ("a.csv", b"1,2\n"), ("b.csv", b"3,4\n"))
    named = [Named(tree.sha256, "snapshot ds-x", listing=(2, 8))]
    report = fsck(store, named)
    assert report.ok and report.named == 3 and report.orphans == 0
    os.unlink(store.path(sha(b"3,4\n")))
    assert kinds(fsck(store, named)) == [("missing-object", sha(b"3,4\n"))]


def test_a_listing_that_disagrees_with_its_record_or_its_blobs(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    data = b"6 MB, say"
    lying = Tree.of([TreeEntry("big.bin", store.put_bytes(data).sha256, 3, 0o644)])
    store.put_bytes(lying.canonical())
    report = fsck(store, [Named(lying.sha256, "snapshot ds-y", listing=(1, len(data)))])
    assert kinds(report) == [("size-mismatch", sha(data)), ("tree-mismatch", lying.sha256)]
    # readers refuse it as well: checkout checks each entry's size
    from modelledger.data.checkout import write_tree

    with pytest.raises(CheckFailed, match="listing says 3 bytes"):
        write_tree(store, lying, tmp_path / "out")
    assert not (tmp_path / "out" / "big.bin").exists()


def test_a_named_tree_that_is_no_tree(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    blob = store.put_bytes(b"not json")
    report = fsck(store, [Named(blob.sha256, "mv-z artifact", listing=(None, None))])
    assert kinds(report) == [("bad-tree", blob.sha256)]
    with pytest.raises(CheckFailed, match="not a tree listing"):
        store.get_tree(blob.sha256)


def test_get_tree_refuses_a_listing_that_does_not_match_its_hash(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    tree = tree_of(store, ("a", b"a"))
    path = store.path(tree.sha256)
    os.chmod(path, 0o644)
    with open(path, "w") as f:
        json.dump({"entries": [["a", sha(b"b"), 1, 0o644]]}, f)
    with pytest.raises(CheckFailed, match=f"tree sha256:{tree.sha256} is corrupt"):
        store.get_tree(tree.sha256)


def test_many_objects_hashed_on_many_threads(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    writer = store.pack_writer()
    blobs = [f"object {i}".encode() * (i + 1) for i in range(300)]
    for b in blobs[:200]:
        writer.add(sha(b), b)
    writer.commit()
    for b in blobs[200:]:
        store.put_bytes(b)
    done: list[int] = []
    report = fsck(store, [Named(sha(b), f"#{i}") for i, b in enumerate(blobs)], workers=4)
    assert report.ok and report.objects == report.named == 300 and report.packs == 1
    from modelledger.blobs import fsck as fsck_module

    progress = fsck_module.Progress(total=done.append, advance=done.append)
    fsck(store, [], progress=progress)
    assert sum(done[1:]) == done[0] == sum(map(len, blobs))


def test_a_remote_store_is_rehashed_through_its_filesystem():
    store = BlobStore(f"memory://fsck-{uuid.uuid4().hex}/blobs")
    good, bad = store.put_bytes(b"good"), store.put_bytes(b"bad")
    store.fs.pipe(store.path(bad.sha256), b"tampered")
    report = fsck(store, [Named(good.sha256, "one"), Named(sha(b"gone"), "two")])
    assert kinds(report) == [("corrupt-object", bad.sha256), ("missing-object", sha(b"gone"))]
    assert report.orphans == 1  # the corrupt one: no record names it


def test_writer_claim_lifecycle(tmp_path):
    root = str(tmp_path / "blobs")
    store = BlobStore(root)
    store.put_bytes(b"x" * 10)  # a named temp file: the store claims its writer lock
    [token] = writers.lock_files(root)
    assert writers.alive(root, token)
    fd, path = store.loose_batch()._writer.temp(store._tmp_dir)
    os.close(fd)
    assert writers.token_of(os.path.basename(path)) == token
    store.close()  # closing lets the claim go and removes its lock file
    assert writers.lock_files(root) == [] and not writers.alive(root, token)
    os.unlink(path)


def test_a_placed_object_has_its_folder_synced(tmp_path, monkeypatch):
    store = BlobStore(str(tmp_path / "blobs"))
    synced: list[str] = []
    real = durable.fsync_path
    monkeypatch.setattr(durable, "fsync_path", lambda p: (synced.append(p), real(p)))
    info = store.put_bytes(b"durable")
    assert os.path.dirname(store.path(info.sha256)) in synced
    synced.clear()
    with store.one_sync():  # many objects: one sync per folder, at the end
        a, b = store.put_bytes(b"a"), store.put_bytes(b"a2")
        assert synced == []
    fans = {os.path.dirname(store.path(x.sha256)) for x in (a, b)}
    assert set(synced) == fans and len(synced) == len(fans)


def test_missing_looks_in_packs_and_loose_objects(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    writer = store.pack_writer()
    writer.add(sha(b"packed"), b"packed")
    writer.commit()
    loose = store.put_bytes(b"loose").sha256
    gone = sha(b"never stored")
    assert store.missing([sha(b"packed"), loose, gone]) == {gone}
    os.unlink(store.path(loose))
    assert store.missing(iter([sha(b"packed"), loose])) == {loose}
