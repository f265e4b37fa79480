"""Record look-ups in a table: how many rows carry a given value (e.g. a user id to forget)."""

from __future__ import annotations

from modelledger.tabular.reading import Reader, with_reader
from modelledger.tabular.sql import ident, trimmed_text
from modelledger.tabular.table import Table


def count_matching(table: Table, column: str, value: str) -> int | None:
    """Rows whose ``column``, as trimmed text, equals ``value``; None when there is no such column."""
    return with_reader(lambda reader: _count(reader, table, column, value))


def _count(reader: Reader, table: Table, column: str, value: str) -> int | None:
    source = reader.open(table)
    if source.type_of(column) is None:
        return None
    sql = f"SELECT count(*) FROM {source.view} WHERE {trimmed_text(ident(column))} = ?"
    return int(reader.fetchone(sql, [value])[0])
