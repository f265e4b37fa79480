import pytest

from modelledger.core.errors import InvalidInput
from modelledger.tabular import Table, connect, table_format


@pytest.mark.parametrize(
    ("relpath", "fmt"),
    [
        ("night2/events.csv", "csv"),
        ("a.TSV", "tsv"),
        ("x/y.csv.gz", "csv.gz"),
        ("y.tsv.gz", "tsv.gz"),
        ("t.parquet", "parquet"),
        ("t.pq", "parquet"),
        ("notes.txt", None),
        ("archive.gz", None),
        ("csv", None),
        ("model.pt", None),
    ],
)
def test_table_format_by_extension(relpath, fmt):
    assert table_format(relpath) == fmt


def test_unknown_format_is_invalid_input_naming_the_label():
    with pytest.raises(InvalidInput, match=r"data/a\.json: unknown table format 'json'"):
        Table("/tmp/x", "json", "data/a.json")


def test_connect_is_bounded_and_offline():
    con = connect()
    try:
        limit, autoinstall, autoload, order = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('autoinstall_known_extensions'),"
            " current_setting('autoload_known_extensions'), current_setting('preserve_insertion_order')"
        ).fetchone()
        assert limit.endswith("MiB") and float(limit.split()[0]) < 1024
        assert (autoinstall, autoload, order) == (False, False, False)
        # parquet and json are built in: no INSTALL needed, none attempted
        assert con.execute("SELECT to_json([1, NULL])").fetchone() == ("[1,null]",)
    finally:
        con.close()
