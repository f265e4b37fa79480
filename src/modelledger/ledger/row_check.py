"""Reading bound tables back as their groups' digests, to compare with what the events recorded.

Rows are read on the driver in group order, normalised exactly as ``binding`` normalised them
when they were written, and folded into one digest per group (or, for the inference log, one
Merkle root per batch) without holding a table in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Connection

from modelledger.core import merkle
from modelledger.core.rows import group_digest, row_leaf
from modelledger.ledger.binding import LOG, LOG_KEY, BoundTable

Advance = Callable[[int], None]


@dataclass(frozen=True)
class IdRecipe:
    """How a table's content-addressed id follows from its row: ``matches(*columns)`` says
    whether the id (the first column) is the one the rest give."""

    table: str
    columns: tuple[str, ...]  # the id column first
    matches: Callable[..., bool]


def read_rows(conn: Connection, sql: str, size: int = 20000) -> Iterator[tuple[Any, ...]]:
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        cur.execute(sql)
        while chunk := cur.fetchmany(size):
            yield from chunk
    finally:
        cur.close()


def select_sql(bound: BoundTable, order: tuple[int, ...], collate: str = "") -> str:
    cols = ", ".join(f'"{c}"' for c in bound.columns)
    by = ", ".join(f'"{bound.columns[i]}"{collate}' for i in order)
    return f'SELECT {cols} FROM "{bound.table.name}" ORDER BY {by}'


def table_groups(
    conn: Connection, bound: BoundTable, advance: Advance | None = None
) -> Iterator[tuple[str, str, int]]:
    """(group key, group digest, rows) for every group of the table."""
    name = bound.table.name
    rows: Iterator[tuple[Any, ...]] = read_rows(conn, select_sql(bound, bound.group))
    if bound.booleans:
        rows = map(bound.read, rows)
    single = len(bound.group) == 1
    done = 0
    # grouping and writing rows out run in C (groupby, map(repr)): this reads millions of rows
    for mark, members in groupby(rows, itemgetter(*bound.group)):
        texts = list(map(repr, members))
        key = str(mark) if single else "/".join(map(str, mark))
        yield key, group_digest(name, texts), len(texts)
        done += len(texts)
        if advance is not None and done >= 10000:
            advance(done)
            done = 0
    if advance is not None and done:
        advance(done)


def log_batches(
    conn: Connection, advance: Advance | None = None
) -> dict[int | None, tuple[bytes, int]]:
    """The inference log: event seq → (Merkle root of its rows in key order, rows). Rows logged
    before binding are under None."""
    at = LOG.group[0]
    builders: dict[int | None, merkle.RootBuilder] = {}
    done = 0
    # code-point order, as the ingest sorted them: PostgreSQL's "C" collation, SQLite's default
    collate = ' COLLATE "C"' if conn.dialect.name == "postgresql" else ""
    for raw in read_rows(conn, select_sql(LOG, tuple(range(LOG_KEY)), collate)):
        values = LOG.read(raw)
        seq = values[at]
        builder = builders.get(seq)
        if builder is None:
            builder = builders[seq] = merkle.RootBuilder()
        builder.add(row_leaf("predictions", values))
        done += 1
        if advance is not None and done % 10000 == 0:
            advance(10000)
    if advance is not None:
        advance(done % 10000)
    return {seq: (b.root(), b.size) for seq, b in builders.items()}


def id_mismatches(conn: Connection, recipe: IdRecipe) -> Iterator[tuple[Any, ...]]:
    """The rows of the recipe's table whose id (first column) does not follow from the rest."""
    cols = ", ".join(f'"{c}"' for c in recipe.columns)
    matches = recipe.matches
    for row in read_rows(conn, f'SELECT {cols} FROM "{recipe.table}"'):
        try:
            ok = matches(*row)
        except Exception:  # a row too damaged to read has no id to match
            ok = False
        if not ok:
            yield row
