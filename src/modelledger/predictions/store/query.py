"""Plain SQL with ``:name`` parameters, run through whichever driver is at hand: the stdlib
sqlite3 one, psycopg alone, or SQLAlchemy. A :data:`Query` takes the SQL and its parameters and
returns the rows as dicts, so a read is written once for all three."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

Query = Callable[[str, Mapping[str, Any]], list[dict[str, Any]]]
T = TypeVar("T")
CHUNK = 500  # ids per IN (…) list: under SQLite's and PostgreSQL's parameter limits


def sqlite_query(conn: sqlite3.Connection) -> Query:
    def run(sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        cur = conn.execute(sql, dict(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    return run


_NAMED = re.compile(r":(\w+)")


def postgres_read(db_url: str, lookup: Callable[[Query], T]) -> T | None:
    """``lookup`` run through psycopg alone, the PostgreSQL counterpart of ``store.quick.read``,
    so that an ``audit prediction`` process need not import SQLAlchemy. One read-only
    transaction on a database at exactly this code's schema; None means "look properly" (not
    PostgreSQL over psycopg, another schema revision, or any error at all)."""
    scheme, sep, rest = db_url.partition("://")
    if not sep or scheme not in ("postgresql", "postgresql+psycopg"):
        return None
    import psycopg
    from psycopg.rows import dict_row

    from modelledger.ledger.head import SCHEMA_HEAD

    try:
        with psycopg.connect(f"postgresql://{rest}", row_factory=dict_row) as conn:
            conn.read_only = True
            head = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            if head is None or head["version_num"] != SCHEMA_HEAD:
                return None

            def run(sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
                return conn.execute(_NAMED.sub(r"%(\1)s", sql), dict(params)).fetchall()

            return lookup(run)
    except psycopg.Error:
        return None


def sa_query(conn: Connection) -> Query:
    from sqlalchemy import text

    def run(sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in conn.execute(text(sql), dict(params))]

    return run


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def in_list(query: Query, sql: str, values: Iterable[str]) -> list[dict[str, Any]]:
    """Run ``sql`` (holding ``{marks}`` where the IN list goes) over ``values`` in chunks."""
    out: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(set(values))):
        names = [f"v{i}" for i in range(len(chunk))]
        marks = ", ".join(f":{n}" for n in names)
        out.extend(query(sql.format(marks=marks), dict(zip(names, chunk, strict=True))))
    return out
