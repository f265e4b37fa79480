import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelledger.core.errors import InvalidInput
from modelledger.tabular import Table, overlap
from tests.tabular import csv_table, parquet_table


def test_overlap_found(tmp_path):
    ev = csv_table(
        tmp_path, "eval", "text,label\nhello,1\nworld,0\nhello,1\nnew,1\n", label="eval/e.csv"
    )
    tr = csv_table(
        tmp_path, "train", "text,label\nhello,1\nworld,1\nother,0\n", label="train/t.csv"
    )
    out = overlap([ev], [tr]).to_json()
    assert out == {
        "columns": ["label", "text"],
        "eval_rows": 4,
        "train_rows": 3,
        "overlapping_rows": 2,
        "overlapping_distinct": 1,
        "sample": [{"label": 1, "text": "hello"}, {"label": 1, "text": "hello"}],
    }


def test_no_overlap(tmp_path):
    ev = csv_table(tmp_path, "eval", "a,b\n1,x\n")
    tr = csv_table(tmp_path, "train", "a,b\n1,y\n2,x\n")
    out = overlap([ev], [tr]).to_json()
    assert (out["overlapping_rows"], out["overlapping_distinct"], out["sample"]) == (0, 0, [])


def test_column_order_case_and_whitespace_do_not_matter(tmp_path):
    ev = csv_table(tmp_path, "eval", 'name,city\n"  Alice ",Paris\nBob,Rome\n')
    tr = parquet_table(tmp_path, "train", "SELECT 'paris' AS city, 'ALICE\t' AS name")
    out = overlap([ev], [tr]).to_json()
    assert out["overlapping_rows"] == 1
    assert out["sample"] == [{"city": "Paris", "name": "  Alice "}]  # as read, not normalised


def test_values_are_not_run_together(tmp_path):
    # Naive concatenation would make both rows "a,b,c"; and NULL is not the text 'null'.
    ev = parquet_table(tmp_path, "eval", "SELECT * FROM (VALUES ('a,b', 'c'), (NULL, 'z')) t(x, y)")
    tr = parquet_table(
        tmp_path, "train", "SELECT * FROM (VALUES ('a', 'b,c'), ('null', 'z')) t(x, y)"
    )
    assert overlap([ev], [tr]).to_json()["overlapping_rows"] == 0
    tr2 = parquet_table(tmp_path, "train2", "SELECT NULL::VARCHAR AS x, 'Z' AS y")
    assert overlap([ev], [tr2]).to_json()["overlapping_rows"] == 1


def test_key_mode_ignores_other_columns(tmp_path):
    ev = csv_table(tmp_path, "eval", "id,text\n1,a\n2,b\n3,c\n")
    tr = csv_table(tmp_path, "train", "text,id\nzzz,2\nyyy,3\n")
    out = overlap([ev], [tr], key=["id"], sample=1).to_json()
    assert out["columns"] == ["id"]
    assert out["overlapping_rows"] == 2
    assert len(out["sample"]) == 1


def test_explicit_columns_and_union_of_several_tables(tmp_path):
    e1 = csv_table(tmp_path, "e1", "q,a,extra\nx,1,9\ny,2,9\n")
    e2 = parquet_table(tmp_path, "e2", "SELECT 'z' AS q, 3 AS a")
    t1 = csv_table(tmp_path, "t1", "a,q\n1,X\n")
    t2 = parquet_table(tmp_path, "t2", "SELECT 3 AS a, 'z' AS q, true AS other")
    out = overlap([e1, e2], [t1, t2], columns=["q", "a"]).to_json()
    assert out["columns"] == ["a", "q"]
    assert (out["eval_rows"], out["train_rows"], out["overlapping_rows"]) == (3, 2, 2)
    # Without columns: only what all four tables share
    assert overlap([e1, e2], [t1, t2]).to_json()["columns"] == ["a", "q"]


def test_missing_requested_column_names_the_table(tmp_path):
    ev = csv_table(tmp_path, "eval", "id,text\n1,a\n")
    tr = csv_table(tmp_path, "train", "text\na\n", label="train/part-2.csv")
    with pytest.raises(InvalidInput, match=r"^--key id: not a column of train/part-2\.csv$"):
        overlap([ev], [tr], key=["id"])
    with pytest.raises(InvalidInput, match=r"^--columns id: not a column of train/part-2\.csv$"):
        overlap([ev], [tr], columns=["text", "id"])


def test_no_common_columns(tmp_path):
    ev = csv_table(tmp_path, "eval", "a\n1\n")
    tr = csv_table(tmp_path, "train", "b\n1\n")
    with pytest.raises(InvalidInput, match="no column is common"):
        overlap([ev], [tr])


def test_needs_tables_on_both_sides(tmp_path):
    ev = csv_table(tmp_path, "eval", "a\n1\n")
    with pytest.raises(InvalidInput):
        overlap([ev], [])


_cells = st.tuples(
    st.none() | st.integers(min_value=0, max_value=3),
    st.none() | st.sampled_from(["a", "A", " a", "b\t", "B", "null", "a,b"]),
)


def _norm(row):
    return tuple(None if v is None else str(v).strip(" \t").lower() for v in row)


def _write(path, rows):
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t (x INTEGER, y VARCHAR)")
        if rows:
            con.executemany("INSERT INTO t VALUES (?, ?)", rows)
        con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    finally:
        con.close()
    return Table(str(path), "parquet", path.name)


@settings(max_examples=40, deadline=None)
@given(st.lists(_cells, max_size=8), st.lists(_cells, max_size=8))
def test_overlap_matches_a_set_computation(eval_rows, train_rows):
    with tempfile.TemporaryDirectory() as tmp:
        ev = _write(Path(tmp) / "eval", eval_rows)
        tr = _write(Path(tmp) / "train", train_rows)
        out = overlap([ev], [tr]).to_json()
    seen = {_norm(r) for r in train_rows}
    hits = [_norm(r) for r in eval_rows if _norm(r) in seen]
    assert out["eval_rows"] == len(eval_rows)
    assert out["train_rows"] == len(train_rows)
    assert out["overlapping_rows"] == len(hits)
    assert out["overlapping_distinct"] == len(set(hits))
    assert len(out["sample"]) == min(5, len(hits))
