"""Appending to the inference log: predictions in bulk, the Parquet segments holding their
features, and feedback. Everything runs in the caller's write transaction."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
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
_SQLITE_INSERT = (
    f"INSERT INTO predictions ({_COLUMNS}) "
    f"VALUES ({', '.join('?' * (len(ROW_COLUMNS) - 1))}, CASE WHEN ? THEN {{segment}} END, "
    "{seq})"
)
_PG_COPY = f"COPY predictions ({_COLUMNS}) FROM STDIN"


def _leaves(
    rows: Sequence[tuple[Any, ...]], segment: str | None, seq: int
) -> list[tuple[tuple[str, ...], bytes]]:
    """Each row as the leaf of its batch's tree (``core.rows.row_leaf``), exactly as the database
    will hand it back: the batch builder has made confidence and latency floats already."""
    sha = hashlib.sha256
    featured, plain = (segment, seq), (None, seq)
    return [
        (
            (row[0], row[1], row[2]),
            sha(
                b"\x00predictions" + repr((*row[:-1], *(featured if row[-1] else plain))).encode()
            ).digest(),
        )
        for row in rows
    ]


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
        sql = _SQLITE_INSERT.format(segment=f"'{segment}'" if segment else "NULL", seq=int(seq))
        try:
            raw.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise AlreadyLogged(f"a prediction is already logged: {exc}") from None
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"database error: {exc}") from None
        bind_log(conn, _leaves(rows, segment, seq))
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
        bind_log(conn, _leaves(rows, segment, seq))
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
