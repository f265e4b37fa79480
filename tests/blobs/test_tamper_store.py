"""The store's tamper suite, on both backends: each kind of tampering with the blob store (its
objects, packs, indexes, trees, temp files, and the hash cache beside it) is found and named by
``mledger fsck`` (exit 1), or refused by the reader that meets it; the untouched store checks
clean."""

from __future__ import annotations

import json
import os
import sqlite3
import time

from modelledger.blobs.writers import Writer
from tests.blobs.conftest import BIG, Stocked, sha, writable
from tests.conftest import jrun, write


def flip_byte(path, at):
    writable(path)
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_an_untouched_store_checks_clean(stocked: Stocked):
    report = stocked.fsck()
    assert report["ok"] and report["damage"] == [] and report["orphans"]["count"] == 0
    # the snapshot's files and tree, the model's artifact and its environment lock
    assert report["objects"] == report["named"] == 121 + 1 + 1 + 1
    assert report["packs"] == 1
    out = stocked.cli("fsck").stdout.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("ok: 124 objects")


def test_flipped_byte_in_a_loose_object(stocked: Stocked):
    flip_byte(stocked.loose(stocked.big_sha), 1000)
    [damage] = stocked.fsck(code=1)["damage"]
    assert (damage["kind"], damage["target"]) == ("corrupt-object", stocked.big_sha)
    assert "loose" in damage["detail"] and "big.bin" in damage["detail"]


def test_truncated_loose_object(stocked: Stocked):
    os.truncate(writable(stocked.loose(stocked.big_sha)), 3)
    [damage] = stocked.fsck(code=1)["damage"]
    assert (damage["kind"], damage["target"]) == ("corrupt-object", stocked.big_sha)
    assert "its 3 bytes" in damage["detail"]


def test_deleted_loose_object_a_snapshot_names(stocked: Stocked):
    stocked.loose(stocked.big_sha).unlink()
    [damage] = stocked.fsck(code=1)["damage"]
    assert (damage["kind"], damage["target"]) == ("missing-object", stocked.big_sha)
    assert stocked.snapshot["id"] in damage["detail"] and "big.bin" in damage["detail"]


def test_deleted_model_artifact(stocked: Stocked):
    stocked.loose(stocked.artifact_sha).unlink()
    [damage] = stocked.fsck(code=1)["damage"]
    assert (damage["kind"], damage["target"]) == ("missing-object", stocked.artifact_sha)
    assert "artifact" in damage["detail"]


def test_object_under_another_objects_name(stocked: Stocked):
    target = writable(stocked.loose(stocked.artifact_sha))
    target.write_bytes(b"weights v2")  # the bytes of another model, at v1's address
    assert ("corrupt-object", stocked.artifact_sha) in stocked.damage()


def test_flipped_byte_inside_a_pack(stocked: Stocked):
    [pack] = stocked.packs("pack")
    flip_byte(pack, 5)
    [damage] = stocked.fsck(code=1)["damage"]
    assert damage["kind"] == "corrupt-object" and pack.name in damage["detail"]
    assert stocked.snapshot["id"] in damage["detail"]


def test_truncated_pack(stocked: Stocked):
    [pack] = stocked.packs("pack")
    os.truncate(writable(pack), pack.stat().st_size - 10)
    kinds = {kind for kind, _ in stocked.damage()}
    assert {"truncated-pack", "corrupt-object"} <= kinds


def test_deleted_pack_index(stocked: Stocked):
    [idx] = stocked.packs("idx")
    idx.unlink()
    found = stocked.damage()
    [pack] = stocked.packs("pack")
    assert ("pack-without-index", str(pack)) in found
    assert ("missing-object", stocked.small_sha) in found  # readers no longer find its objects


def test_corrupt_pack_index(stocked: Stocked):
    [idx] = stocked.packs("idx")
    flip_byte(idx, idx.stat().st_size - 60)  # inside a record: the name no longer matches
    found = stocked.damage()
    assert ("damaged-index", str(idx)) in found and ("missing-object", stocked.small_sha) in found


def test_truncated_pack_index(stocked: Stocked):
    [idx] = stocked.packs("idx")
    os.truncate(writable(idx), idx.stat().st_size - 7)
    damage = {d["target"]: d for d in stocked.fsck(code=1)["damage"]}
    assert damage[str(idx)]["kind"] == "damaged-index"
    assert "not a multiple" in damage[str(idx)]["detail"]


def test_pack_index_without_its_pack(stocked: Stocked):
    [pack] = stocked.packs("pack")
    pack.unlink()
    [idx] = stocked.packs("idx")
    assert ("index-without-pack", str(idx)) in stocked.damage()


def test_a_pack_added_without_an_index(stocked: Stocked):
    stray = stocked.root / "packs" / f"pack-{sha(b'stray')}.pack"
    stray.write_bytes(b"bytes that no index lists")
    assert stocked.damage() == [("pack-without-index", str(stray))]


def test_rewritten_tree_listing(stocked: Stocked, tmp_path):
    tree_sha = stocked.snapshot["tree_sha256"]
    path = writable(stocked.loose(tree_sha))
    listing = json.loads(path.read_bytes())
    for entry in listing["entries"]:
        if entry[0] == "big.bin":  # now names a 3-byte blob that is in the store
            entry[1], entry[2] = stocked.store.put_bytes(b"abc").sha256, 3
    path.write_text(json.dumps(listing))
    assert ("corrupt-object", tree_sha) in stocked.damage()
    # the reader refuses the listing instead of checking out the 3-byte file as big.bin
    out = stocked.cli("data", "checkout", stocked.snapshot["id"], str(tmp_path / "co"), code=1)
    assert "corrupt" in out.stderr and not (tmp_path / "co" / "big.bin").exists()


def test_deleted_tree_listing(stocked: Stocked):
    tree_sha = stocked.snapshot["tree_sha256"]
    stocked.loose(tree_sha).unlink()
    [damage] = stocked.fsck(code=1)["damage"]
    assert (damage["kind"], damage["target"]) == ("missing-object", tree_sha)
    assert stocked.snapshot["id"] in damage["detail"]


def test_stray_file_in_a_fan_out_folder(stocked: Stocked):
    stray = stocked.root / "sha256" / "ab" / "notes.txt"
    stray.write_text("hello")
    assert stocked.damage() == [("unexpected-file", str(stray))]


def test_leftover_temp_file_of_a_dead_writer_is_named_and_repaired(stocked: Stocked):
    leftover = write(stocked.root / "sha256" / ".tmp-0123456789abcdef-0", b"half an object")
    assert stocked.damage() == [("leftover-temp", str(leftover))]
    repaired = stocked.fsck("--repair")
    assert repaired["ok"] and repaired["removed"] == [str(leftover)] and not leftover.exists()
    assert stocked.fsck()["ok"]


def test_old_temp_file_of_an_unknown_writer(stocked: Stocked):
    old = write(stocked.root / "packs" / ".tmp-k2j3h4", b"from an older release")
    young = write(stocked.root / "sha256" / ".tmp-zz9x8c", b"perhaps still being written")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert stocked.damage() == [("leftover-temp", str(old))]
    repaired = stocked.fsck("--repair")
    assert repaired["removed"] == [str(old)] and young.exists()
    assert repaired["temp_files_in_use"] == 1


def test_temp_files_of_a_live_writer_are_left_alone(stocked: Stocked):
    writer = Writer(str(stocked.root))
    fd, path = writer.temp(str(stocked.root / "sha256"))
    try:
        report = stocked.fsck("--repair")
        assert report["ok"] and report["temp_files_in_use"] == 1 and os.path.exists(path)
    finally:
        os.close(fd)
        os.unlink(path)
        writer.release()


def test_poisoned_hash_cache_never_vouches_for_a_lost_blob(stocked: Stocked):
    """The cache says big.bin's bytes are stored; they were lost since. A new snapshot of the
    same folder stores them again from the file instead of naming missing bytes."""
    folder = stocked.project / "night"
    hour_ago = time.time() - 3600
    for path in folder.rglob("*"):
        os.utime(path, (hour_ago, hour_ago))  # settled files: the cache remembers them
    jrun(stocked.cli, "data", "snapshot", str(folder), "-n", "interactions")
    stocked.loose(stocked.big_sha).unlink()
    cache = stocked.project / ".mledger" / "cache" / "hashes.sqlite"
    with sqlite3.connect(cache) as db:
        cached = dict(db.execute("SELECT sha256, path FROM files"))
    assert stocked.big_sha in cached  # the poisoned entry: bytes it vouches for are gone
    assert stocked.damage() == [("missing-object", stocked.big_sha)]
    again = jrun(stocked.cli, "data", "snapshot", str(folder), "-n", "interactions")
    assert again["id"] == stocked.snapshot["id"]
    assert stocked.loose(stocked.big_sha).stat().st_size == BIG
    assert stocked.fsck()["ok"]


def test_orphans_are_counted_never_removed(stocked: Stocked):
    orphan = stocked.store.put_bytes(b"no record names me")
    report = stocked.fsck("--repair")
    assert report["ok"] and report["orphans"] == {"count": 1, "bytes": 18}
    assert stocked.store.has(orphan.sha256)
