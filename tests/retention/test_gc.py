"""`mledger gc` on SQLite and PostgreSQL: what the retention policy keeps and why, what goes
(bytes only, each with a tombstone), what a reader of collected bytes is told, and the store
protocol that keeps a concurrent writer's bytes."""

from __future__ import annotations

import hashlib
import os

import pytest

from modelledger.blobs import removal
from modelledger.blobs.store import BlobStore
from tests.conftest import jrun, write
from tests.people import approved

NOW_POLICY = "keep_experiments_for: 0d\nkeep_snapshots_for: 0d\ngrace: 0d\n"


@pytest.fixture
def estate(ledger_cli, project, ledger):
    """churn@1 (parent of churn@2) trained on `train`; churn@2 served production; churn@3 an
    experiment; `scratch` a snapshot nothing used; `holdout` an eval set."""
    cli = ledger_cli
    train = jrun(
        cli,
        "data",
        "snapshot",
        str(write(project / "d" / "train.csv", "a\n1\n")),
        "--name",
        "train",
    )["id"]
    scratch = jrun(
        cli,
        "data",
        "snapshot",
        str(write(project / "s" / "x.csv", "x\n9\n" * 50)),
        "--name",
        "scratch",
    )["id"]
    holdout = jrun(
        cli, "eval", "set", "create", "holdout", str(write(project / "e" / "h.csv", "h\n2\n"))
    )["id"]
    ids = {}
    for n, extra in ((1, ["--data", train]), (2, ["--parent", "churn@1"]), (3, [])):
        art = write(project / f"m{n}.bin", f"weights {n}" * 100)
        ids[n] = jrun(
            cli, "model", "register", "churn", "--artifact", str(art), "--code-ref", "r", *extra
        )["id"]
    cli("env", "create", "production")
    approved(ledger, ids[2], "production", project=project)
    return cli, ids, {"train": train, "scratch": scratch, "holdout": holdout}


def test_a_dry_run_says_what_would_go_and_why_the_rest_stays(estate, project):
    cli, ids, snaps = estate
    write(project / "p.yaml", NOW_POLICY)
    cli("gc", "policy", str(project / "p.yaml"))
    plan = jrun(cli, "gc", "--dry-run")
    why = {d["id"]: (d["tier"], d["reason"]) for d in plan["decisions"]}
    assert why[ids[2]] == ("served", "served an environment")
    assert why[ids[1]] == ("lineage", "parent of churn@2")
    assert why[ids[3]][0] == "eligible" and "never served" in why[ids[3]][1]
    assert why[snaps["holdout"]] == ("eval set", "an eval set")
    assert why[snaps["train"]] == ("trained on", "trained churn@1")
    assert why[snaps["scratch"]][0] == "eligible"
    assert plan["tiers"]["eligible"]["items"] == 2 and plan["tiers"]["eligible"]["bytes"] > 0
    assert plan["dry_run"] and plan["collected"] == []
    text = cli("gc", "--dry-run").stdout
    assert "go   version churn@3" in text and "would free" in text
    assert jrun(cli, "model", "verify", "churn@3")["ok"]  # nothing was touched


def test_gc_collects_bytes_never_records_and_readers_say_so(estate, project, ledger):
    cli, ids, snaps = estate
    lock = jrun(cli, "model", "show", "churn@3")["tuple"]["lock_sha256"]
    write(project / "p.yaml", NOW_POLICY)
    cli("gc", "policy", str(project / "p.yaml"))
    done = jrun(cli, "gc")
    assert {c["id"] for c in done["collected"]} == {ids[3], snaps["scratch"]}
    assert done["freed_bytes"] > 1000
    assert all(c["policy"] == done["policy_sha256"] for c in done["collected"])
    assert ledger.blobs.has(lock)  # shared with kept versions: it stays
    refused = cli("model", "verify", "churn@3", code=1)
    assert (
        "collected by gc on" in refused.stderr
        and "record, scores and lineage remain" in refused.stderr
    )
    assert (
        "collected by gc"
        in cli("model", "checkout", "churn@3", str(project / "out"), code=1).stderr
    )
    assert (
        "collected by gc"
        in cli("data", "checkout", snaps["scratch"], str(project / "o2"), code=1).stderr
    )
    assert jrun(cli, "model", "show", "churn@3")["label"] == "churn@3"  # the record stays
    shown = jrun(cli, "data", "show", snaps["scratch"])
    assert shown["files"] == [] and "collected by gc" in shown["collected"]
    for n in (1, 2):
        assert jrun(cli, "model", "verify", f"churn@{n}")["ok"]
    assert jrun(cli, "data", "checkout", snaps["train"], str(project / "o3"))["files"] == 1
    tomb = jrun(cli, "audit", "log", "--kind", "gc.collected")
    assert {e["subject"] for e in tomb} == {ids[3], snaps["scratch"]}
    assert jrun(cli, "fsck")["ok"]  # collected is not damage
    assert jrun(cli, "audit", "verify")["ok"]
    again = jrun(cli, "gc")  # nothing more to do
    assert again["collected"] == [] and again["tiers"]["collected"]["items"] == 2


def test_the_grace_period_keeps_what_was_just_written_or_reused(estate, project):
    cli, _, _ = estate
    write(project / "p.yaml", "keep_experiments_for: 0d\nkeep_snapshots_for: 0d\ngrace: 1h\n")
    cli("gc", "policy", str(project / "p.yaml"))
    done = jrun(cli, "gc")
    assert done["collected"] == [] and done["kept_back_objects"] >= 2
    assert jrun(cli, "model", "verify", "churn@3")["ok"]


def test_a_policy_is_refused_when_it_does_not_parse(ledger_cli, project):
    cli = ledger_cli
    for text, said in (
        ("keep_forever: yes\n", "unknown key 'keep_forever'"),
        ("keep_experiments_for: soon\n", "expected a duration"),
        ("overrides:\n  churn: {keep: 1d}\n", "overrides.churn"),
    ):
        write(project / "bad.yaml", text)
        assert said in cli("gc", "policy", str(project / "bad.yaml"), code=2).stderr
    assert jrun(cli, "gc", "policy")["policy"]["keep_experiments_for"] == "30d"


def test_collect_keeps_an_object_freshened_while_it_is_moved_aside(tmp_path, monkeypatch):
    store = BlobStore(str(tmp_path / "blobs"))
    sha = store.put_bytes(b"old weights").sha256
    path = store.path(sha)
    os.utime(path, (1, 1))  # written long ago
    rename = os.rename

    def writer_reuses_it_first(src, dst):
        store.has_fresh(sha)  # a registration naming it, just before gc moves it
        rename(src, dst)

    monkeypatch.setattr(os, "rename", writer_reuses_it_first)
    assert removal.collect(store, sha, grace=60, now=1_000_000_000) == 0
    monkeypatch.undo()
    assert store.get(sha) == b"old weights"
    os.utime(path, (1, 1))
    assert removal.collect(store, sha, grace=60, now=1_000_000_000) == len(b"old weights")
    assert not store.has_fresh(sha)  # a writer after it finds it gone and stores its own copy
    store.close()


def test_a_gc_killed_between_moving_aside_and_removing_leaves_a_whole_store(
    estate, project, ledger
):
    """The object moved aside is still that object to fsck, and the next gc puts it back before
    deciding again."""
    cli, ids, _ = estate
    sha = jrun(cli, "model", "show", "churn@3")["tuple"]["artifact"]["sha256"]
    path = ledger.blobs.path(sha)
    os.rename(path, f"{path}.gc-4242")  # where a kill -9 inside BlobStore.collect leaves it
    assert jrun(cli, "fsck")["ok"]
    assert removal.restore_aside(ledger.blobs) == 1 and ledger.blobs.get(sha)
    write(project / "p.yaml", NOW_POLICY)
    cli("gc", "policy", str(project / "p.yaml"))
    os.rename(path, f"{path}.gc-4242")
    assert ids[3] in {c["id"] for c in jrun(cli, "gc")["collected"]}
    assert not os.path.exists(f"{path}.gc-4242") and jrun(cli, "fsck")["ok"]


def test_the_ui_shows_what_gc_collected(estate, project, ledger):
    import warnings

    from modelledger.identity import tokens
    from modelledger.server.app import create_app
    from tests.people import REQUESTER, key_of

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    cli, ids, snaps = estate
    write(project / "p.yaml", NOW_POLICY)
    cli("gc", "policy", str(project / "p.yaml"))
    jrun(cli, "gc")
    secret = tokens.create(ledger, key_of(project, REQUESTER), REQUESTER, ["read"]).secret
    with TestClient(create_app(ledger)) as client:
        client.cookies.set("mledger_ui", secret, path="/ui")
        page = client.get(f"/ui/versions/{ids[3]}").text
        assert "collected by gc on" in page and "churn@3" in page
        assert "collected by gc on" in client.get(f"/ui/snapshots/{snaps['scratch']}").text
        assert "collected by gc" not in client.get(f"/ui/versions/{ids[2]}").text


def _folder(root, n, start=0):
    for i in range(start, start + n):
        write(root / f"r{i:03}.csv", f"row\n{i}\n" * 20)
    return root


def test_packs_are_rewritten_without_the_dead_objects(ledger_cli, project, ledger):
    """`old` (150 small files, one pack) shares 100 files with `new`, whose own pack holds only
    the 50 it added: collecting `old` rewrites its pack with the 100 that `new` still names."""
    cli = ledger_cli
    old = jrun(cli, "data", "snapshot", str(_folder(project / "a", 150)), "--name", "old")["id"]
    packs = project / ".mledger" / "blobs" / "packs"
    first = {p.name for p in packs.glob("*.pack")}
    assert len(first) == 1
    write(project / "p.yaml", NOW_POLICY)
    cli("gc", "policy", str(project / "p.yaml"))
    b = _folder(project / "b", 100)
    _folder(b, 100, start=200)
    new = jrun(cli, "data", "snapshot", str(b), "--name", "new")["id"]
    write(project / "p2.yaml", NOW_POLICY + "overrides:\n  new: {keep_snapshots_for: 30d}\n")
    cli("gc", "policy", str(project / "p2.yaml"))
    sizes = {p.name: p.stat().st_size for p in packs.glob("*.pack")}
    tree = jrun(cli, "data", "show", old)["tree_sha256"]
    listing = os.path.getsize(ledger.blobs.path(tree))  # loose, and collected with it
    os.utime(packs / next(iter(first)), (1, 1))  # written long ago
    done = jrun(cli, "gc")
    assert [c["id"] for c in done["collected"]] == [old]
    after = {p.name for p in packs.glob("*.pack")}
    assert next(iter(first)) not in after and len(after) == 2  # new's own, and the rewrite
    assert done["freed_bytes"] == listing + sizes[next(iter(first))] - sum(
        (project / "a" / f"r{i:03}.csv").stat().st_size for i in range(100)
    )
    assert jrun(cli, "fsck")["ok"] and jrun(cli, "audit", "verify")["ok"]
    out = project / "out"
    cli("data", "checkout", new, str(out))
    assert len(list(out.rglob("*.csv"))) == 200
    said = cli("data", "checkout", old, str(project / "out2"), code=1).stderr
    assert "collected by gc" in said


def test_a_pack_reused_while_it_is_rewritten_is_kept(tmp_path, monkeypatch):
    from modelledger.blobs import repack

    store = BlobStore(str(tmp_path / "blobs"))
    writer = store.pack_writer()
    for i in range(3):
        writer.add(hashlib.sha256(b"%d" % i).hexdigest(), b"%d" % i)
    name = writer.commit()
    pack = tmp_path / "blobs" / "packs" / f"{name}.pack"
    os.utime(pack, (1, 1))
    dead = hashlib.sha256(b"0").hexdigest()
    rename = os.rename

    def writer_reuses_it_first(src, dst):
        assert store.has_fresh(dead)  # a registration naming it, just before gc moves the index
        rename(src, dst)

    monkeypatch.setattr(os, "rename", writer_reuses_it_first)
    done = repack.drop_from_packs(store, {dead}, grace=60, now=1_000_000_000)
    monkeypatch.undo()
    assert done.removed == 0 and done.kept_back == 1
    listed = {p.name for p in (tmp_path / "blobs" / "packs").iterdir()}
    assert listed == {f"{name}.pack", f"{name}.idx"}  # the old one back, its copy dropped
    assert store.get(dead) == b"0"
    os.utime(pack, (1, 1))
    done = repack.drop_from_packs(store, {dead}, grace=60, now=1_000_000_000)
    assert done.removed == 1 and not store.has(dead)
    assert store.get(hashlib.sha256(b"1").hexdigest()) == b"1"
    assert not store.has_fresh(dead)  # a writer after it finds it gone and stores its own copy
    store.close()


def test_a_repack_killed_after_moving_the_index_aside_leaves_a_whole_store(tmp_path):
    from modelledger.blobs import repack
    from modelledger.blobs.fsck import fsck

    store = BlobStore(str(tmp_path / "blobs"))
    writer = store.pack_writer()
    writer.add(hashlib.sha256(b"x").hexdigest(), b"x")
    name = writer.commit()
    idx = tmp_path / "blobs" / "packs" / f"{name}.idx"
    os.rename(idx, f"{idx}.gc-4242")  # where a kill -9 inside repack._retire leaves it
    assert fsck(store, []).ok
    assert repack.restore_aside(store) == 1 and idx.exists()
    assert store.get(hashlib.sha256(b"x").hexdigest()) == b"x"
    store.close()


def test_on_an_object_store_a_writer_renews_what_gc_could_take(tmp_path):
    """An object store cannot freshen an object in place: a writer reuses only an object younger
    than REMOTE_REUSE and uploads an older one again (renewing it), and gc never takes one
    younger than twice that, whatever the policy's grace."""
    import time
    import uuid
    from datetime import timedelta

    from fsspec.implementations.memory import MemoryFileSystem

    from modelledger.blobs.store import REMOTE_REUSE

    store = BlobStore(f"memory://reuse-{uuid.uuid4().hex}")
    sha = store.put_bytes(b"weights").sha256
    now = time.time()
    assert store.has_fresh(sha) and removal.collect(store, sha, grace=0, now=now) == 0
    entry = MemoryFileSystem.store[store.path(sha).removeprefix("memory://")]
    entry.created -= timedelta(seconds=REMOTE_REUSE + 1)
    assert not store.has_fresh(sha)  # too old to be reused as it is
    assert store.missing([sha]) == {sha}
    store.put_bytes(b"weights")  # the writer uploads it again: renewed
    assert store.has_fresh(sha) and removal.collect(store, sha, grace=0, now=now) == 0
    entry = MemoryFileSystem.store[store.path(sha).removeprefix("memory://")]
    entry.created -= timedelta(seconds=2 * REMOTE_REUSE + 1)
    assert removal.collect(store, sha, grace=0, now=time.time()) == len(b"weights")
    assert not store.has(sha)


def test_two_collectors_rewriting_one_pack_keep_its_survivors(tmp_path, monkeypatch):
    """Both copy the survivors into the same new pack (same objects, same name); the one whose
    move of the old index fails (the other took it) must not remove that shared copy."""
    from modelledger.blobs import repack

    store = BlobStore(str(tmp_path / "blobs"))
    writer = store.pack_writer()
    for i in range(3):
        writer.add(hashlib.sha256(b"%d" % i).hexdigest(), b"%d" % i)
    writer.commit()
    dead = {hashlib.sha256(b"0").hexdigest()}
    rename = os.rename

    def the_other_collector_first(src, dst):
        if src.endswith(".idx"):  # it retires the old pack just before this one tries
            other = BlobStore(str(tmp_path / "blobs"))
            monkeypatch.setattr(os, "rename", rename)
            assert repack.drop_from_packs(other, dead, None, 0).removed == 1
        rename(src, dst)

    monkeypatch.setattr(os, "rename", the_other_collector_first)
    repack.drop_from_packs(store, dead, None, 0)
    monkeypatch.undo()
    fresh = BlobStore(str(tmp_path / "blobs"))
    assert fresh.get(hashlib.sha256(b"1").hexdigest()) == b"1"
    assert fresh.get(hashlib.sha256(b"2").hexdigest()) == b"2"
    assert not fresh.has(hashlib.sha256(b"0").hexdigest())
