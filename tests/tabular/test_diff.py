import json

import duckdb
import pytest

from modelledger.core.errors import InvalidInput
from modelledger.tabular import Table, diff_tables
from tests.tabular import csv_table, parquet_table

KINDS = "['views', 'clicks', 'buys', 'carts']"
BASE = f"""
    SELECT i AS id, {KINDS}[1 + i % 4] AS event_type, (i % 100)::DOUBLE AS value
    FROM range(1000) t(i)
"""


def _diff(tmp_path, select_a, select_b, **kwargs):
    a = parquet_table(tmp_path, "a", select_a, label="night1/events.parquet")
    b = parquet_table(tmp_path, "b", select_b, label="night2/events.parquet")
    out = diff_tables(a, b, **kwargs).to_json()
    json.dumps(out, allow_nan=False)  # always JSON-safe
    return out


def _category(out, column):
    (found,) = [c for c in out["categories"] if c["column"] == column]
    return found


def test_vanished_category_is_the_first_finding(tmp_path):
    dropped = BASE.replace(KINDS, "['views', 'views', 'buys', 'carts']")
    # Plenty else changes too; the vanished category must still lead.
    noisy = f"SELECT id, event_type, CASE WHEN id % 3 = 0 THEN NULL ELSE value + 40 END AS value, 1 AS extra FROM ({dropped}) WHERE id < 800"
    out = _diff(tmp_path, BASE, noisy)
    first = out["findings"][0]
    assert first == {
        "severity": "alert",
        "kind": "category_vanished",
        "column": "event_type",
        "message": "category 'clicks' of column event_type vanished (was 25.0% of 1,000 rows)",
    }
    kinds = [f["kind"] for f in out["findings"]]
    assert kinds == [
        "category_vanished",
        "category_share_moved",
        "column_added",
        "row_count_changed",
        "null_rate_increased",
        "mean_shifted",  # of value; id is an identifier, its mean is not reported
    ]
    cat = _category(out, "event_type")
    assert cat["vanished"] == [{"value": "clicks", "count_a": 250, "share_a": 0.25}]
    assert cat["vanished_total"] == 1
    assert cat["distinct"] == {"a": 4, "b": 3}


def test_appeared_category(tmp_path):
    new = f"SELECT id, CASE WHEN id % 10 = 0 THEN 'search' ELSE event_type END AS event_type, value FROM ({BASE})"
    out = _diff(tmp_path, BASE, new)
    cat = _category(out, "event_type")
    assert cat["appeared"] == [{"value": "search", "count_b": 100, "share_b": 0.1}]
    assert cat["appeared_total"] == 1
    assert out["findings"][0]["kind"] == "category_appeared"
    assert out["findings"][0]["severity"] == "warn"
    assert "'search'" in out["findings"][0]["message"]


def test_moved_shares_sorted_by_size(tmp_path):
    # views 25% -> 40%, clicks 25% -> 10%, buys and carts unchanged
    moved = f"SELECT id, CASE WHEN event_type = 'clicks' AND id % 20 NOT IN (1, 5) THEN 'views' ELSE event_type END AS event_type, value FROM ({BASE})"
    out = _diff(tmp_path, BASE, moved)
    cat = _category(out, "event_type")
    assert [(m["value"], m["delta"]) for m in cat["moved"]] == [("clicks", -0.15), ("views", 0.15)]
    assert cat["moved"][0] == {
        "value": "clicks",
        "count_a": 250,
        "count_b": 100,
        "share_a": 0.25,
        "share_b": 0.1,
        "delta": -0.15,
    }
    assert [f["severity"] for f in out["findings"]] == ["warn", "warn"]
    assert (
        out["findings"][0]["message"]
        == "share of 'clicks' in column event_type moved from 25.0% to 10.0% (-15.0 points)"
    )


def test_schema_added_removed_and_type_changed(tmp_path):
    a = "SELECT i AS id, i::INTEGER AS y, 'x' AS gone FROM range(10) t(i)"
    b = "SELECT i AS id, i::VARCHAR AS y, 2.5 AS new FROM range(10) t(i)"
    out = _diff(tmp_path, a, b)
    assert out["schema"] == {
        "added": [{"name": "new", "type": "DECIMAL(2,1)"}],
        "removed": [{"name": "gone", "type": "VARCHAR"}],
        "type_changed": [{"name": "y", "a": "INTEGER", "b": "VARCHAR"}],
    }
    assert [f["kind"] for f in out["findings"]] == [
        "column_removed",
        "column_added",
        "column_type_changed",
    ]
    assert [c["name"] for c in out["columns"]] == ["id", "y"]
    assert "mean" not in out["columns"][1]  # numeric on one side only


def test_null_rate_and_mean_shift(tmp_path):
    b = f"SELECT id, event_type, CASE WHEN id % 5 = 0 THEN NULL ELSE value + 50 END AS value FROM ({BASE})"
    out = _diff(tmp_path, BASE, b)
    (value,) = [c for c in out["columns"] if c["name"] == "value"]
    assert value["null_rate"] == {"a": 0.0, "b": 0.2}
    assert value["mean"]["a"] == 49.5
    assert value["mean"]["b"] > 99
    assert value["quantiles"]["p50"]["a"] == 49.5
    assert set(value["quantiles"]) == {"p05", "p25", "p50", "p75", "p95"}
    assert [(f["kind"], f["severity"], f["column"]) for f in out["findings"]] == [
        ("null_rate_increased", "warn", "value"),
        ("mean_shifted", "warn", "value"),
    ]
    assert "rose from 0.0% to 20.0%" in out["findings"][0]["message"]


def test_row_count_change_below_ten_percent_is_info(tmp_path):
    out = _diff(tmp_path, BASE, f"SELECT * FROM ({BASE}) WHERE id < 960")
    (rows,) = [f for f in out["findings"] if f["kind"] == "row_count_changed"]
    assert rows["severity"] == "info"
    assert rows["message"] == "rows went from 1,000 to 960 (-4.0%)"


def test_categories_skip_ids_and_floats_but_by_forces_them(tmp_path):
    out = _diff(tmp_path, BASE, BASE)
    assert [c["column"] for c in out["categories"]] == ["event_type"]
    out = _diff(tmp_path, BASE, f"SELECT * FROM ({BASE}) WHERE id >= 3", by=["id", "value"])
    assert [c["column"] for c in out["categories"]] == ["id", "value", "event_type"]
    ids = _category(out, "id")
    assert ids["vanished_total"] == 3
    assert [v["value"] for v in ids["vanished"]] == ["0", "1", "2"]


def test_max_categories(tmp_path):
    out = _diff(tmp_path, BASE, BASE, max_categories=3)
    assert out["categories"] == []


def test_missing_by_column(tmp_path):
    with pytest.raises(
        InvalidInput, match=r"^--by country: not a column of night1/events\.parquet$"
    ):
        _diff(tmp_path, BASE, BASE, by=["country"])


def test_keyed_diff_added_removed_changed(tmp_path):
    a = csv_table(
        tmp_path, "a", "id,name,score\n1,ann,1.5\n2,bob,2\n3,cy,\n4,dee,4\n5,eve,5\n5,eve,6\n"
    )
    b = csv_table(
        tmp_path, "b", "id,name,score\n2,bob,2\n3,cy,\n4,DEE,4.5\n6,fay,6\n7,gus,7\n5,x,0\n"
    )
    out = diff_tables(a, b, key=["id"], sample=5).to_json()
    keyed = out["keyed"]
    assert keyed["key"] == ["id"]
    assert keyed["compared"] == ["name", "score"]
    assert keyed["removed"] == {"count": 1, "sample": [{"id": 1, "name": "ann", "score": 1.5}]}
    assert keyed["added"]["count"] == 2
    assert keyed["added"]["sample"] == [
        {"id": 6, "name": "fay", "score": 6.0},
        {"id": 7, "name": "gus", "score": 7.0},
    ]
    # id 3 has NULL score on both sides: not a change. id 5 is duplicated in A: not compared.
    assert keyed["changed"] == {
        "count": 1,
        "sample": [{"key": {"id": 4}, "columns": {"name": ["dee", "DEE"], "score": [4.0, 4.5]}}],
    }
    assert keyed["duplicate_keys"] == {"a": 1, "b": 0}
    messages = {f["kind"]: f["message"] for f in out["findings"]}
    assert messages["rows_removed"] == "1 row of snap/a.csv with no matching id in snap/b.csv"
    assert (
        messages["duplicate_keys"]
        == "1 value of id occurs more than once in snap/a.csv (not compared)"
    )
    assert all(f["column"] != "id" for f in out["findings"])  # the key's mean is noise
    assert [c["column"] for c in out["categories"]] == []  # the key is never a category


def test_keyed_sample_limit_and_null_keys(tmp_path):
    a = csv_table(tmp_path, "a", "k,v\n,1\n1,1\n2,1\n3,1\n")
    b = csv_table(tmp_path, "b", "k,v\n,2\n4,1\n5,1\n6,1\n")
    keyed = diff_tables(a, b, key=["k"], sample=1).to_json()["keyed"]
    assert keyed["removed"]["count"] == 3 and len(keyed["removed"]["sample"]) == 1
    assert keyed["added"]["count"] == 3 and len(keyed["added"]["sample"]) == 1
    # NULL key matches NULL key
    assert keyed["changed"] == {
        "count": 1,
        "sample": [{"key": {"k": None}, "columns": {"v": [1, 2]}}],
    }


def test_missing_key_column(tmp_path):
    a = csv_table(tmp_path, "a", "user_id,v\n1,2\n")
    b = csv_table(tmp_path, "b", "id,v\n1,2\n", label="snap/b.csv")
    with pytest.raises(InvalidInput, match=r"^--key user_id: not a column of snap/b\.csv$"):
        diff_tables(a, b, key=["user_id"])


def test_csv_and_parquet_of_the_same_data_do_not_differ(tmp_path):
    rows = ["user_id,event_type,value,day,flag"]
    rows += [
        f"{i},{['views', 'clicks', 'buys'][i % 3]},{(i * 37) % 101 / 4},{'2026-01-0' + str(1 + i % 5)},{i % 2 == 0}"
        for i in range(500)
    ]
    rows.append("500,,,2026-01-01,")
    a = csv_table(tmp_path, "a", "\n".join(rows) + "\n")
    pq = tmp_path / "blob-b"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_csv('{a.path}')) TO '{pq}' (FORMAT parquet)")
    con.close()
    out = diff_tables(a, Table(str(pq), "parquet", "snap/b.parquet")).to_json()
    assert out["findings"] == []
    assert out["schema"] == {"added": [], "removed": [], "type_changed": []}
    assert out["rows"] == {"a": 501, "b": 501}
    for column in out["columns"]:
        for stat in ("null_rate", "mean", "stddev"):
            if stat in column:
                assert column[stat]["a"] == column[stat]["b"]
    for cat in out["categories"]:
        assert cat["vanished"] == cat["appeared"] == cat["moved"] == []
    assert {c["column"] for c in out["categories"]} == {"event_type", "flag"}


def test_nan_and_infinity_become_null(tmp_path):
    a = csv_table(tmp_path, "a", "id,x\n1,1.0\n2,nan\n3,inf\n")
    b = csv_table(tmp_path, "b", "id,x\n1,2.0\n2,nan\n3,-inf\n")
    out = diff_tables(a, b, key=["id"]).to_json()
    json.dumps(out, allow_nan=False)
    (x,) = [c for c in out["columns"] if c["name"] == "x"]
    assert x["mean"] == {"a": None, "b": None}
    assert out["keyed"]["changed"]["sample"][0]["columns"] == {"x": [1.0, 2.0]}
    assert out["keyed"]["changed"]["sample"][1]["columns"] == {"x": [None, None]}


def test_quoted_column_names(tmp_path):
    a = csv_table(tmp_path, "a", 'id,"we""ird, name"\n1,a\n2,b\n3,a\n')
    b = csv_table(tmp_path, "b", 'id,"we""ird, name"\n1,a\n2,c\n3,a\n')
    out = diff_tables(a, b, key=["id"], by=['we"ird, name']).to_json()
    assert out["keyed"]["changed"]["sample"] == [
        {"key": {"id": 2}, "columns": {'we"ird, name': ["b", "c"]}}
    ]
    assert _category(out, 'we"ird, name')["vanished"][0]["value"] == "b"


def test_key_of_different_types_compares_as_text(tmp_path):
    a = csv_table(tmp_path, "a", "id,v\n1,x\n2,y\n")
    b = parquet_table(
        tmp_path, "b", "SELECT * FROM (VALUES ('1', 'x'), ('2', 'z'), ('3', 'w')) t(id, v)"
    )
    out = diff_tables(a, b, key=["id"]).to_json()
    assert out["schema"]["type_changed"] == [{"name": "id", "a": "BIGINT", "b": "VARCHAR"}]
    assert (out["keyed"]["added"]["count"], out["keyed"]["removed"]["count"]) == (1, 0)
    assert out["keyed"]["changed"]["sample"] == [{"key": {"id": 2}, "columns": {"v": ["y", "z"]}}]


def test_duplicate_header_names(tmp_path):
    a = csv_table(tmp_path, "a", "a,a\n1,2\n")
    out = diff_tables(a, a).to_json()
    assert [c["name"] for c in out["columns"]] == ["a", "a_1"]
    assert out["findings"] == []
