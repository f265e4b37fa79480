"""Diff, leakage and deletion impact over recorded snapshots, on both backends."""

import os

import pytest

from modelledger.core.errors import InvalidInput
from modelledger.data.diff import diff
from modelledger.data.leakage import leakage
from modelledger.data.snapshot import SnapshotRequest, snapshot
from modelledger.impact.affected import affected
from modelledger.models.register import RegisterRequest, register
from tests.conftest import write

HEADER = "user_id,event_type,value\n"


def events(folder, rows):
    return write(folder / "events.csv", HEADER + "".join(f"{r}\n" for r in rows)).parent


def take(ledger, path, name="interactions", **kw):
    return snapshot(ledger, SnapshotRequest([path], name, **kw)).snapshot


def night_rows(n, drop=None):
    kinds = ["click", "view", "cart", "buy"]
    return [f"{i},{kinds[i % 4]},{i * 0.5}" for i in range(n) if kinds[i % 4] != drop]


def test_recommender_story_the_vanished_category_comes_first(ledger, tmp_path):
    n1 = take(ledger, events(tmp_path / "n1", night_rows(400)))
    n2 = take(ledger, events(tmp_path / "n2", night_rows(400, drop="cart")))
    write(tmp_path / "n2" / "README.txt", "nightly export")
    result = diff(ledger, n1.id, n2.id)
    first = result["findings"][0]
    assert first["kind"] == "category_vanished" and "'cart'" in first["message"]
    assert first["column"] == "event_type" and first["table"] == "events.csv"
    assert result["files"]["modified"][0]["path"] == "events.csv"
    table = result["tables"][0]
    assert table["rows"] == {"a": 400, "b": 300}
    assert [v["value"] for v in table["categories"][0]["vanished"]] == ["cart"]


def test_keyed_diff_and_table_pairing(ledger, tmp_path):
    a = take(ledger, events(tmp_path / "a", ["1,click,1", "2,view,2", "3,cart,3"]))
    b_dir = tmp_path / "b"
    write(b_dir / "renamed.csv", HEADER + "1,click,1\n2,view,9\n4,buy,4\n")
    b = take(ledger, b_dir)
    none = diff(ledger, a.id, b.id)
    assert none["tables"] == [] and "no tabular files in common" in none["note"]
    result = diff(ledger, a.id, b.id, tables=["events.csv", "renamed.csv"], key=["user_id"])
    keyed = result["tables"][0]["keyed"]
    assert (keyed["added"]["count"], keyed["removed"]["count"], keyed["changed"]["count"]) == (
        1,
        1,
        1,
    )
    with pytest.raises(InvalidInput, match=r"--key nope: not a column"):
        diff(ledger, a.id, b.id, tables=["events.csv", "renamed.csv"], key=["nope"])
    with pytest.raises(InvalidInput, match=r"--table missing\.csv: is not in it"):
        diff(ledger, a.id, b.id, tables=["missing.csv"])
    with pytest.raises(InvalidInput, match=r"need a table to compare"):
        diff(ledger, a.id, b.id, key=["user_id"])


def test_ragged_csv_and_corrupt_parquet_are_named(ledger, tmp_path):
    good = take(ledger, events(tmp_path / "good", ["1,click,1", "2,view,2"]))
    ragged = take(
        ledger, write(tmp_path / "bad" / "events.csv", HEADER + "1,click\n2,view,2,extra\n").parent
    )
    with pytest.raises(InvalidInput, match=r"events\.csv"):
        diff(ledger, good.id, ragged.id)
    write(tmp_path / "p1" / "t.parquet", b"PAR1" + bytes(range(200)) + b"PAR1")
    write(tmp_path / "p2" / "t.parquet", b"PAR1" + bytes(range(100)) + b"PAR1")
    p1, p2 = take(ledger, tmp_path / "p1"), take(ledger, tmp_path / "p2")
    with pytest.raises(InvalidInput, match=r"t\.parquet"):
        diff(ledger, p1.id, p2.id)


def test_leakage_finds_eval_rows_in_training(ledger, tmp_path):
    train = take(ledger, events(tmp_path / "train", ["1,click,1", "2,view,2", "3,cart,3"]), "train")
    clean_eval = take(ledger, events(tmp_path / "eval", ["7,buy,7", "8,view,8"]), "eval")
    leaky_eval = take(ledger, events(tmp_path / "leaky", ["8,view,8", " 2 ,VIEW,2"]), "eval")
    assert leakage(ledger, clean_eval.id, [train.id])["leak"] is False
    found = leakage(ledger, leaky_eval.id, [train.id])
    assert found["leak"] and found["overlapping_rows"] == 1
    assert found["columns"] == ["event_type", "user_id", "value"]
    by_key = leakage(ledger, clean_eval.id, [train.id], key=["event_type"])
    assert by_key["overlapping_rows"] == 1  # 'view' is a shared key
    with pytest.raises(InvalidInput, match="holds no CSV or Parquet"):
        leakage(ledger, take(ledger, write(tmp_path / "x" / "a.txt", "hi").parent).id, [train.id])


def test_register_warns_when_eval_data_overlaps_training(ledger, tmp_path):
    train = take(ledger, events(tmp_path / "train", ["1,click,1", "2,view,2"]), "train")
    ev = take(ledger, events(tmp_path / "eval", ["2,view,2", "5,buy,5"]), "eval")
    result = register(
        ledger,
        RegisterRequest(
            name="recsys",
            artifact=write(tmp_path / "m.bin", "w"),
            data=[f"{train.id[:10]}:train", f"{ev.id}:eval"],  # prefixes resolve
            code_ref="train@1",
        ),
    )
    assert result.created and len(result.warnings) == 1
    assert {d.snapshot_id for d in result.version.tuple.data} == {train.id, ev.id}
    assert "overlaps the training data: 1 of 2 rows" in result.warnings[0]


CARD_RAW = {"sources": [{"name": "clickstream"}, {"name": "scraped-forum", "license": "unknown"}]}


def test_affected_traces_a_source_and_a_record_to_models(ledger, tmp_path):
    raw = take(ledger, events(tmp_path / "raw", ["41,click,1", "42,view,2"]), "raw", card=CARD_RAW)
    clean = take(
        ledger,
        events(tmp_path / "clean", ["42,view,2"]),
        "clean",
        inputs=[raw.id],
        step="dedupe",
        card={"sources": [{"name": "clickstream"}], "excluded": ["scraped-forum"]},
    )
    other = take(ledger, events(tmp_path / "other", ["7,buy,7"]), "other")
    model = register(
        ledger,
        RegisterRequest(
            name="recsys",
            artifact=write(tmp_path / "m.bin", "w"),
            data=[f"{clean.id}:train"],
            code_ref="t@1",
        ),
    ).version
    finetune = register(
        ledger,
        RegisterRequest(
            name="recsys-ft",
            artifact=write(tmp_path / "ft.bin", "f"),
            base_model=model.id,
            code_ref="t@2",
        ),
    ).version
    register(
        ledger,
        RegisterRequest(
            name="unrelated",
            artifact=write(tmp_path / "u.bin", "u"),
            data=[f"{other.id}:train"],
            code_ref="t@3",
        ),
    )

    from modelledger.releases import environments
    from tests.people import promote_approved

    environments.create(ledger, "production")
    promote_approved(ledger, finetune.id, "production")
    by_source = affected(ledger, source="scraped-forum")
    assert by_source["serving"] == [
        {"env": "production", "id": finetune.id, "label": "recsys-ft@1"}
    ]
    assert [s["id"] for s in by_source["snapshots"]] == sorted([raw.id, clean.id])
    assert by_source["retrain"] == ["recsys-ft@1", "recsys@1"]
    assert {m["id"] for m in by_source["models"]} == {model.id, finetune.id}
    [violation] = by_source["violations"]
    assert violation["snapshot"] == clean.id and violation["found_in"] == raw.id

    by_record = affected(ledger, record="user_id=41")
    assert [s["id"] for s in by_record["snapshots"]] == sorted([raw.id, clean.id])
    why = {s["id"]: s["why"] for s in by_record["snapshots"]}
    assert "1 row(s) in events.csv" in why[raw.id] and "derived from" in why[clean.id]
    assert by_record["retrain"] == ["recsys-ft@1", "recsys@1"]
    assert affected(ledger, record="user_id=999")["snapshots"] == []
    narrowed = affected(ledger, record="user_id=7", within=[other.id])
    assert narrowed["retrain"] == ["unrelated@1"]
    with pytest.raises(InvalidInput, match="exactly one"):
        affected(ledger)
    with pytest.raises(InvalidInput, match="COLUMN=VALUE"):
        affected(ledger, record="user_id")


def test_diff_reads_tables_stored_in_packs(ledger, tmp_path):
    # over a hundred small files go into one pack file rather than one object each
    for name, drop in (("p1", None), ("p2", "cart")):
        for i in range(120):
            write(
                tmp_path / name / f"part-{i:03}.csv", HEADER + "\n".join(night_rows(8, drop)) + "\n"
            )
    a, b = take(ledger, tmp_path / "p1"), take(ledger, tmp_path / "p2")
    part = next(e for e in ledger.blobs.get_tree(a.tree_sha256).entries if e.path == "part-000.csv")
    assert not os.path.exists(ledger.blobs.path(part.sha256))  # packed, not a loose object
    result = diff(ledger, a.id, b.id, tables=["part-000.csv"])
    assert result["tables"][0]["rows"] == {"a": 8, "b": 6}
