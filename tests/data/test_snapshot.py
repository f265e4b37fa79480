"""Dataset snapshots, transforms, cards and checkout through the services, on both backends."""

import os
import shutil

import pytest
from sqlalchemy import text

from modelledger.blobs import ingest
from modelledger.core.errors import CheckFailed, InvalidInput, NotFound
from modelledger.data import dataset_cards
from modelledger.data.checkout import checkout
from modelledger.data.snapshot import Progress, SnapshotRequest, show, snapshot
from modelledger.impact.lineage import data_lineage
from modelledger.ledger import audit
from modelledger.models.register import RegisterRequest, register
from tests.conftest import write


def take(ledger, paths, name="interactions", **kw):
    paths = paths if isinstance(paths, list) else [paths]
    return snapshot(ledger, SnapshotRequest(paths, name, **kw))


def rows(ledger, table):
    with ledger.db.read() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def nothing_recorded(ledger, blobs_before=0):
    assert rows(ledger, "snapshots") == 0 and rows(ledger, "events") == 0
    assert len(list(ledger.blobs.iter_shas())) == blobs_before
    tmp = [p for p in os.listdir(ledger.blobs.root + "/sha256") if p.startswith(".tmp-")]
    assert tmp == []


@pytest.fixture
def night(tmp_path):
    def make(folder, rows_=("1,click", "2,view", "3,cart")):
        write(tmp_path / folder / "events.csv", "user_id,event_type\n" + "\n".join(rows_) + "\n")
        write(tmp_path / folder / "meta" / "source.txt", "etl v3\n")
        return tmp_path / folder

    return make


def test_same_bytes_same_id_from_any_folder_or_mtime(ledger, night, tmp_path):
    first = take(ledger, night("a"))
    copy = shutil.copytree(tmp_path / "a", tmp_path / "elsewhere" / "b")
    os.utime(copy / "events.csv", (1, 1))
    again = take(ledger, copy, name="other-name")
    assert first.created and not again.created
    assert again.snapshot.id == first.snapshot.id and again.snapshot.name == "interactions"
    assert first.snapshot.file_count == 2 and rows(ledger, "snapshots") == 1
    files = [f["path"] for f in show(ledger, first.snapshot.id)["files"]]
    assert files == ["events.csv", "meta/source.txt"]


def test_any_byte_change_makes_a_new_id(ledger, night):
    a = take(ledger, night("a")).snapshot
    b = take(ledger, night("b", ("1,click", "2,view", "3,carT"))).snapshot
    assert a.id != b.id


def test_several_paths_are_stored_by_name(ledger, night, tmp_path):
    night("a")
    extra = write(tmp_path / "labels.csv", "id\n1\n")
    snap = take(ledger, [tmp_path / "a", extra]).snapshot
    files = [f["path"] for f in show(ledger, snap.id)["files"]]
    assert files == ["a/events.csv", "a/meta/source.txt", "labels.csv"]


def test_unchanged_tree_re_snapshots_from_the_hash_cache(ledger, night, monkeypatch):
    folder = night("a")
    for f in folder.rglob("*"):
        if f.is_file():
            os.utime(f, ns=(1_000_000_000, 1_000_000_000))  # old enough not to be "racy"
    first = take(ledger, folder).snapshot

    def no_reading(*_a, **_k):
        raise AssertionError("an unchanged file was read again")

    monkeypatch.setattr(ingest.Ingest, "_small", no_reading)
    assert take(ledger, folder).snapshot.id == first.id
    write(folder / "events.csv", "user_id,event_type\n9,buy\n")  # changed: must be read
    with pytest.raises(AssertionError, match="read again"):
        take(ledger, folder)


def test_large_files_are_copied_and_hashed_in_the_store(ledger, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "SMALL", 10)
    big = write(tmp_path / "big" / "blob.bin", os.urandom(5000))
    snap = take(ledger, big.parent).snapshot
    out = checkout(ledger, snap.id, tmp_path / "out")
    assert (tmp_path / "out" / "blob.bin").read_bytes() == big.read_bytes() and out.files == 1


@pytest.mark.parametrize("size_limit", [1 << 20, 10])  # read-into-memory path and kernel-copy path
def test_a_file_changing_during_the_snapshot_fails_and_stores_nothing(
    ledger, night, monkeypatch, size_limit
):
    monkeypatch.setattr(ingest, "SMALL", size_limit)
    folder = night("a")

    def meddle(_total):  # runs after the scan, before any file is read
        write(folder / "events.csv", "user_id,event_type\n1,click\n2,view\n3,cart\n4,buy\n")

    with pytest.raises(InvalidInput, match="changed while being snapshotted"):
        snapshot(ledger, SnapshotRequest([folder], "x"), Progress(total=meddle))
    nothing_recorded(ledger)


def test_bad_paths_are_refused(ledger, tmp_path):
    with pytest.raises(InvalidInput, match="no such file"):
        take(ledger, tmp_path / "missing")
    outside = write(tmp_path / "secret.txt", "s")
    (tmp_path / "d").mkdir()
    write(tmp_path / "d" / "ok.csv", "a\n1\n")
    os.symlink(outside, tmp_path / "d" / "leak.txt")
    with pytest.raises(InvalidInput, match="symlink points outside"):
        take(ledger, tmp_path / "d")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="no files"):
        take(ledger, tmp_path / "empty")
    with pytest.raises(InvalidInput, match="dataset name"):
        take(ledger, tmp_path / "d" / "ok.csv", name="bad name!")
    nothing_recorded(ledger)


def test_symlink_inside_the_folder_is_stored_as_its_target_bytes(ledger, tmp_path):
    write(tmp_path / "d" / "real.csv", "a\n1\n")
    os.symlink(tmp_path / "d" / "real.csv", tmp_path / "d" / "alias.csv")
    snap = take(ledger, tmp_path / "d").snapshot
    files = {f["path"]: f["sha256"] for f in show(ledger, snap.id)["files"]}
    assert files["alias.csv"] == files["real.csv"]


def test_transforms_record_lineage_up_and_down_to_models(ledger, night, tmp_path):
    raw = take(ledger, night("raw"), name="raw").snapshot
    labels = take(ledger, write(tmp_path / "labels.csv", "id\n1\n"), name="labels").snapshot
    clean = take(
        ledger,
        night("clean", ("1,click", "2,view")),
        name="clean",
        inputs=[raw.id[:12], labels.id],
        step="dedupe+pii-redact",
        code=str(write(tmp_path / "clean.py", "print(1)\n")),
        params={"threshold": 0.9},
    )
    assert clean.transform is not None and clean.transform.id.startswith("tf-")
    assert clean.transform.inputs == tuple(sorted([raw.id, labels.id]))
    assert clean.transform.code["file"] == "clean.py" and len(clean.transform.code["sha256"]) == 64
    feats = take(
        ledger,
        night("feats", ("1,click",)),
        name="feats",
        inputs=[clean.snapshot.id],
        step="featurise",
    ).snapshot
    model = register(
        ledger,
        RegisterRequest(
            name="recsys",
            artifact=write(tmp_path / "m.bin", "w"),
            data=[f"{feats.id}:train"],
            code_ref="train@1",
        ),
    ).version

    down = data_lineage(ledger, raw.id)
    assert {tf["output"] for tf in down["downstream"]} == {clean.snapshot.id, feats.id}
    assert [m["version"] for m in down["models"]] == [model.id]
    assert down["models"][0]["label"] == "recsys@1"
    up = data_lineage(ledger, feats.id)
    assert {i for tf in up["upstream"] for i in tf["inputs"]} == {
        raw.id,
        labels.id,
        clean.snapshot.id,
    }
    assert audit.verify(ledger).ok
    with ledger.db.read() as conn:
        kinds = [r[0] for r in conn.execute(text("SELECT kind FROM events ORDER BY seq"))]
    assert kinds.count("data.transform") == 2


def test_transform_flags_are_checked_before_any_bytes_are_read(ledger, night):
    folder = night("a")
    with pytest.raises(InvalidInput, match="--from needs --step"):
        take(ledger, folder, inputs=["ds-abcdef"])
    with pytest.raises(InvalidInput, match="add --from"):
        take(ledger, folder, step="dedupe")
    with pytest.raises(NotFound, match="no snapshot"):
        take(ledger, folder, inputs=["ds-abcdef12"], step="dedupe")
    nothing_recorded(ledger)


CARD = {
    "sources": [
        {"name": "clickstream", "owner": "data-eng", "license": "internal", "pii": "redacted"},
        {"name": "synthetic-aug", "generator": "gpt-x", "verified": True},
    ],
    "consent_basis": "contract",
    "splits": {"rule": "hash(user_id) % 10", "train": 0.8, "val": 0.1, "test": 0.1},
    "excluded": ["scraped-forum"],
}


def test_dataset_card_gets_the_snapshot_hash_and_revisions_are_logged(ledger, night):
    result = take(ledger, night("a"), card=CARD)
    snap = result.snapshot
    assert result.card_revision == 1
    _, revision, card = dataset_cards.card(ledger, snap.id)
    assert card["id"] == snap.id and card["hash"] == f"sha256:{snap.tree_sha256}"
    assert revision == 1 and card["sources"][0]["pii"] == "redacted"
    assert dataset_cards.amend(ledger, snap.id, {**CARD, "hash": card["hash"]})[1] is None
    _, rev2 = dataset_cards.amend(ledger, snap.id, {**CARD, "labeler_instructions_version": "v2"})
    assert rev2 == 2
    with ledger.db.read() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM events WHERE kind='data.card'")).scalar() == 2
        )


def test_a_card_whose_hash_disagrees_is_refused(ledger, night):
    folder = night("a")
    with pytest.raises(InvalidInput, match="does not match the snapshot's content hash"):
        take(ledger, folder, card={**CARD, "hash": "sha256:" + "0" * 64})
    nothing_recorded(ledger)
    with pytest.raises(InvalidInput, match=r"sources\.0\.licence"):
        take(ledger, folder, card={"sources": [{"name": "x", "licence": "typo"}]})
    snap = take(ledger, folder).snapshot
    with pytest.raises(NotFound, match="has no dataset card"):
        dataset_cards.card(ledger, snap.id)


def test_checkout_verifies_and_refuses_to_clobber(ledger, night, tmp_path):
    snap = take(ledger, night("a")).snapshot
    out = tmp_path / "out"
    checkout(ledger, snap.id, out)
    assert (out / "meta" / "source.txt").read_text() == "etl v3\n"
    with pytest.raises(InvalidInput, match="not empty"):
        checkout(ledger, snap.id, out)
    (out / "events.csv").write_text("edited")
    checkout(ledger, snap.id, out, force=True)
    assert (out / "events.csv").read_text().startswith("user_id")
    with pytest.raises(InvalidInput, match="is a file"):
        checkout(ledger, snap.id, out / "events.csv")


def test_checkout_names_a_corrupt_blob(ledger, night, tmp_path):
    snap = take(ledger, night("a")).snapshot
    sha = next(f["sha256"] for f in show(ledger, snap.id)["files"] if f["path"] == "events.csv")
    path = ledger.blobs.path(sha)
    os.chmod(path, 0o644)
    with open(path, "w") as f:
        f.write("tampered")
    with pytest.raises(CheckFailed, match="corrupt"):
        checkout(ledger, snap.id, tmp_path / "out")
    assert not (tmp_path / "out" / "events.csv").exists()


def test_re_snapshot_of_known_bytes_needs_no_database_connection(ledger, night, backend):
    from modelledger.ledger.home import open_config

    folder = night("a")
    first = take(ledger, folder).snapshot
    fresh = open_config(ledger.config)
    try:
        again = take(fresh, folder)
        assert again.snapshot == first and not again.created
        # SQLite answers through the read-only quick lookup; PostgreSQL takes the full path
        assert ("db" in fresh.__dict__) == (backend == "postgres")
    finally:
        fresh.close()
