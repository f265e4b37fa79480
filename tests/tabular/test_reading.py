"""How files that are not what they claim to be are reported: always InvalidInput, naming the label."""

import gzip
from pathlib import Path

import pytest

from modelledger.core.errors import InvalidInput
from modelledger.tabular import Table, count_matching, diff_tables
from tests.tabular import csv_table, parquet_table


def test_short_row_is_rejected_with_its_line(tmp_path):
    t = csv_table(tmp_path, "short", "a,b,c\n1,2,3\n4,5\n6,7,8\n", label="night2/events.csv")
    with pytest.raises(
        InvalidInput, match=r"^night2/events\.csv: .*line 3 has 2 fields, the header has 3"
    ):
        count_matching(t, "a", "1")


def test_long_row_is_rejected_not_resniffed_as_headerless(tmp_path):
    # Left alone, DuckDB's sniffer decides this file has no header and skips two lines,
    # returning zero rows without complaint.
    t = csv_table(tmp_path, "long", "a,b,c\n1,2,3\n4,5,6,7\n", label="e.csv")
    with pytest.raises(InvalidInput, match=r"^e\.csv: .*line 3 has 4 fields"):
        count_matching(t, "a", "1")


def test_ragged_row_beyond_the_sniff_sample_is_rejected(tmp_path):
    rows = ["a,b"] + [f"{i},x" for i in range(30_000)] + ["1"] + ["2,y"]
    t = csv_table(tmp_path, "late", "\n".join(rows) + "\n", label="big.csv")
    with pytest.raises(
        InvalidInput, match=r"^big\.csv: cannot read as csv: CSV Error on Line: 30002"
    ):
        count_matching(t, "a", "1")


def test_type_guess_missed_by_the_sample_is_retried_on_all_rows(tmp_path):
    rows = ["id,v"] + [f"{i},1.5" for i in range(30_000)] + ["abc,2.5"]
    t = csv_table(tmp_path, "types", "\n".join(rows) + "\n")
    assert count_matching(t, "id", "abc") == 1
    assert count_matching(t, "id", "7") == 1


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_empty_file(tmp_path, fmt):
    path = tmp_path / "blob-empty"
    path.write_bytes(gzip.compress(b"") if fmt == "csv.gz" else b"")
    with pytest.raises(InvalidInput, match=r"^snap/empty: file is empty$"):
        count_matching(Table(str(path), fmt, "snap/empty"), "a", "1")


def test_header_only_csv_is_an_empty_table_not_an_error(tmp_path):
    a = csv_table(tmp_path, "a", "id,kind\n")
    b = csv_table(tmp_path, "b", "id,kind\n1,x\n")
    assert diff_tables(a, b).to_json()["rows"] == {"a": 0, "b": 1}


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "blob-corrupt"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(InvalidInput, match=r"^night2/events\.parquet: cannot read as parquet"):
        count_matching(Table(str(path), "parquet", "night2/events.parquet"), "a", "1")


def test_corrupt_page_header_is_blamed_on_the_right_file(tmp_path):
    # DuckDB's error for a bad page header does not name the file; we find it by probing.
    good = parquet_table(tmp_path, "good", "SELECT i, i * 2 AS j FROM range(1000) t(i)")
    bad = parquet_table(tmp_path, "bad", "SELECT i, i * 2 AS j FROM range(1000) t(i)")
    path = Path(bad.path)
    data = bytearray(path.read_bytes())
    data[4:40] = b"\xff" * 36
    path.write_bytes(bytes(data))
    for pair in ((good, bad), (bad, good)):
        with pytest.raises(InvalidInput, match=r"^snap/bad\.parquet: cannot read as parquet"):
            diff_tables(*pair)


def test_not_gzip(tmp_path):
    t = csv_table(tmp_path, "plain", "a\n1\n")
    with pytest.raises(InvalidInput, match=r"cannot read as csv\.gz"):
        count_matching(Table(t.path, "csv.gz", "x.csv.gz"), "a", "1")


def test_missing_file(tmp_path):
    with pytest.raises(InvalidInput, match=r"^gone\.csv: file not found"):
        count_matching(Table(str(tmp_path / "nope"), "csv", "gone.csv"), "a", "1")


def test_tsv_and_gzip_are_read_as_told(tmp_path):
    t = csv_table(tmp_path, "t", "a\tb\n1\tx,y\n2\tz\n", fmt="tsv.gz")
    assert count_matching(t, "b", "x,y") == 1
