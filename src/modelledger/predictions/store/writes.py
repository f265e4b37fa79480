"""Appending to the inference log: predictions in bulk, the Parquet segments holding their
features, and feedback. Everything runs in the caller's write transaction."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from modelledger.core.errors import Conflict, StoreUnavailable
from modelledger.ledger.binding import bind_log, insert_rows
from modelledger.ledger.events import next_seq
from modelledger.ledger.schema import feedback, prediction_segments
from modelledger.predictions.records import ROW_COLUMNS, FeedbackItem
from modelledger.predictions.store.query import sa_query

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


class AlreadyLogged(Conflict):
    """A prediction with the same (request_id, mode, version_id) is already in the log."""


# --- predictions in bulk -----------------------------------------------------------------------

_COLUMNS = ", ".join((*ROW_COLUMNS, "event_seq"))
_PG_COPY = f"COPY predictions ({_COLUMNS}) FROM STDIN"

# A row's values that differ from record to record (request_id, input_sha256, output_json,
# confidence, latency_ms), and the rest (mode, version_id, env, system_id, arm, served_at,
# whether in the segment), which a batch's rows mostly share.
_OWN = itemgetter(0, 7, 8, 9, 10)
_SHARED = itemgetter(1, 2, 3, 4, 5, 6, 11)
Group = tuple[tuple[Any, ...], list[tuple[Any, ...]]]  # (shared values, own values of each row)

# Rows that share their other values, many to a statement: each row's own values in VALUES, the
# shared ones bound once per statement. Both save SQLite work per row; 190 rows of 5 values and
# the 8 shared stay within the 999 variables older SQLite builds allow.
_SQLITE_INSERT = (
    "INSERT INTO predictions (request_id, input_sha256, output_json, confidence, latency_ms, "
    "mode, version_id, env, system_id, arm, served_at, segment_id, event_seq) "
    "SELECT column1, column2, column3, column4, column5, ?, ?, ?, ?, ?, ?, ?, ? FROM (VALUES "
)
_SQLITE_ROW = "(?, ?, ?, ?, ?)"
_SQLITE_ROWS = 190


def _groups(rows: Sequence[tuple[Any, ...]]) -> list[Group]:
    """The rows by the values they share (most batches: one group), in order within each."""
    shared = set(map(_SHARED, rows))
    if len(shared) == 1:
        return [(shared.pop(), list(map(_OWN, rows)))]
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault(_SHARED(row), []).append(_OWN(row))
    return list(groups.items())


def _leaf_format(shared: tuple[Any, ...], segment: str | None, seq: int) -> str:
    """What ``row_leaf`` hashes for rows sharing ``shared``, as a %-format of their own values:
    a tuple's repr is its items' reprs joined by ', ' in parentheses."""
    *same, featured = shared
    fixed = ", ".join(map(repr, same)).replace("%", "%%")
    tail = repr((segment if featured else None, seq))[1:].replace("%", "%%")  # "'…', seq)"
    return f"\x00predictions(%r, {fixed}, %r, %r, %r, %r, {tail}"


def _leaves(
    groups: list[Group], segment: str | None, seq: int
) -> list[tuple[tuple[str, ...], bytes]]:
    """Each row as the leaf of its batch's tree (``core.rows.row_leaf``), exactly as the database
    will hand it back: the batch builder has made confidence and latency floats already. Only a
    row's own values are written out per row, into the format of what it shares with others."""
    sha = hashlib.sha256
    out: list[tuple[tuple[str, ...], bytes]] = []
    for same, owns in groups:
        form = _leaf_format(same, segment, seq)
        keys = zip(map(itemgetter(0), owns), repeat(same[0]), repeat(same[1]))
        out.extend(zip(keys, [sha((form % own).encode()).digest() for own in owns], strict=True))
    return out


def _sqlite_insert(
    raw: sqlite3.Connection, groups: list[Group], segment: str | None, seq: int
) -> None:
    full = _SQLITE_INSERT + ", ".join([_SQLITE_ROW] * _SQLITE_ROWS) + ")"
    step = _SQLITE_ROWS * 5  # a row's own values
    for same, owns in groups:
        *values, featured = same
        bound = [*values, segment if featured else None, seq]
        flat = list(chain.from_iterable(owns))
        whole = len(owns) // _SQLITE_ROWS * step
        if whole:
            raw.executemany(full, (bound + flat[i : i + step] for i in range(0, whole, step)))
        if whole < len(flat):
            rest = ", ".join([_SQLITE_ROW] * (len(owns) % _SQLITE_ROWS))
            raw.execute(f"{_SQLITE_INSERT}{rest})", bound + flat[whole:])


_SHA256 = re.compile(r"[0-9a-f]{64}")


def insert_predictions(
    conn: Connection, rows: Sequence[tuple[Any, ...]], segment: str | None
) -> None:
    """Append the rows in the caller's write transaction. A row holds the columns in
    ``ROW_COLUMNS`` order, except that its last value says whether the row's features are in
    ``segment`` (so a batch of rows need not be rebuilt once its segment's hash is known).
    Raises :class:`AlreadyLogged` when a key is taken; the caller's transaction then rolls back."""
    if not rows:
        return
    if segment is not None and not _SHA256.fullmatch(segment):
        raise ValueError(f"not a segment id: {segment!r}")
    raw = conn.connection.driver_connection
    dialect = conn.dialect.name
    seq = next_seq(conn)  # the batch's event, appended once its rows are in
    if dialect == "sqlite":
        assert isinstance(raw, sqlite3.Connection)
        groups = _groups(rows)
        try:
            _sqlite_insert(raw, groups, segment, seq)
        except sqlite3.IntegrityError as exc:
            raise AlreadyLogged(f"a prediction is already logged: {exc}") from None
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"database error: {exc}") from None
        bind_log(conn, _leaves(groups, segment, seq))
        return
    if dialect == "postgresql":
        import psycopg

        with_segment, without = (segment, seq), (None, seq)
        try:
            with raw.cursor() as cur, cur.copy(_PG_COPY) as copy:  # type: ignore[union-attr]
                write = copy.write_row
                for row in rows:
                    write(row[:-1] + (with_segment if row[-1] else without))
        except psycopg.errors.UniqueViolation as exc:
            first = str(exc).strip().splitlines()[0]
            raise AlreadyLogged(f"a prediction is already logged: {first}") from None
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailable(f"database error: {first}") from None
        bind_log(conn, _leaves(_groups(rows), segment, seq))
        return
    raise NotImplementedError(f"no bulk insert for dialect {dialect}")


# --- segments ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentRecord:
    """A Parquet segment of logged features: its content id, the environment and span of
    served_at it covers, how many rows it holds and its size in bytes."""

    segment_id: str
    env: str
    first_served_at: str
    last_served_at: str
    row_count: int
    size: int


def insert_segment(conn: Connection, segment: SegmentRecord, *, at: str, user: str) -> bool:
    """Record the Parquet segment; False when the same bytes were recorded before."""

    found = sa_query(conn)(
        "SELECT id FROM prediction_segments WHERE id = :id", {"id": segment.segment_id}
    )
    if found:
        return False
    insert_rows(
        conn,
        prediction_segments,
        {
            "id": segment.segment_id,
            "env": segment.env,
            "first_served_at": segment.first_served_at,
            "last_served_at": segment.last_served_at,
            "row_count": segment.row_count,
            "size": segment.size,
            "created_at": at,
            "created_by": user,
        },
    )
    return True


# --- feedback ----------------------------------------------------------------------------------


def insert_feedback(
    conn: Connection, items: Sequence[FeedbackItem], at: str, user: str, source: str
) -> None:
    insert_rows(
        conn,
        feedback,
        [
            {
                "request_id": i.request_id,
                "label_json": i.label_json,
                "was_correct": i.was_correct,
                "failure_cluster": i.failure_cluster,
                "received_at": at,
                "received_by": user,
                "source": source,
            }
            for i in items
        ],
    )
