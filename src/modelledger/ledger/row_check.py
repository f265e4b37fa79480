"""Reading bound tables back as their groups' digests, to compare with what the events recorded.

Rows are read on the driver in group order, normalised exactly as ``binding`` normalised them
when they were written, and folded into one digest per group (or, for the inference log, one
Merkle root per batch) without holding a table in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.engine import Connection

from modelledger.core import merkle
from modelledger.core.rows import group_digest, row_leaf
from modelledger.ledger.binding import LOG, LOG_KEY, BoundTable

Advance = Callable[[int], None]


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
    """(group key, group digest, rows) for every group of the table, in key order."""
    norms = bound.normalise
    group = bound.group
    current: tuple[Any, ...] | None = None
    digests: list[bytes] = []
    done = 0
    for raw in read_rows(conn, select_sql(bound, group)):
        values = [None if v is None else n(v) for v, n in zip(raw, norms, strict=True)]
        mark = tuple(values[i] for i in group)
        if mark != current:
            if current is not None:
                yield bound.key(_as_values(bound, current)), group_digest(digests), len(digests)
            current, digests = mark, []
        digests.append(bound.digest(values))
        done += 1
        if advance is not None and done % 10000 == 0:
            advance(10000)
    if current is not None:
        yield bound.key(_as_values(bound, current)), group_digest(digests), len(digests)
    if advance is not None:
        advance(done % 10000)


def _as_values(bound: BoundTable, mark: tuple[Any, ...]) -> list[Any]:
    values: list[Any] = [None] * len(bound.columns)
    for i, v in zip(bound.group, mark, strict=True):
        values[i] = v
    return values


def log_batches(
    conn: Connection, advance: Advance | None = None
) -> dict[int | None, tuple[bytes, int]]:
    """The inference log: event seq → (Merkle root of its rows in key order, rows). Rows logged
    before binding are under None."""
    norms = LOG.normalise
    at = LOG.group[0]
    builders: dict[int | None, merkle.RootBuilder] = {}
    done = 0
    # code-point order, as the ingest sorted them: PostgreSQL's "C" collation, SQLite's default
    collate = ' COLLATE "C"' if conn.dialect.name == "postgresql" else ""
    for raw in read_rows(conn, select_sql(LOG, tuple(range(LOG_KEY)), collate)):
        values = [None if v is None else n(v) for v, n in zip(raw, norms, strict=True)]
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
