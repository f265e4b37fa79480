"""The inference log's tables: predictions, their Parquet segments, and feedback.

Two things shape this module. Bulk inserts go through the raw DBAPI connection underneath the
SQLAlchemy one (``executemany`` on SQLite, ``COPY`` on PostgreSQL), inside the caller's write
transaction: building a SQLAlchemy statement per row would cost more than the insert. And the
audit lookup answers through the stdlib sqlite3 driver on SQLite (see ``Ledger.quick``): importing
SQLAlchemy alone would take the ``audit prediction`` process past its budget. So reads are plain
SQL with ``:name`` parameters, run by a :data:`Query` that either driver provides, and this module
imports SQLAlchemy only inside the functions that need it.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from modelledger.domain.errors import Conflict, StoreUnavailable
from modelledger.domain.predictions import ROW_COLUMNS, FeedbackItem

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

Query = Callable[[str, Mapping[str, Any]], list[dict[str, Any]]]
T = TypeVar("T")
CHUNK = 500  # ids per IN (…) list: under SQLite's and PostgreSQL's parameter limits


class AlreadyLogged(Conflict):
    """A prediction with the same (request_id, mode, version_id) is already in the log."""


def sqlite_query(conn: sqlite3.Connection) -> Query:
    def run(sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        cur = conn.execute(sql, dict(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    return run


_NAMED = re.compile(r":(\w+)")


def postgres_read(db_url: str, lookup: Callable[[Query], T]) -> T | None:
    """``lookup`` run through psycopg alone, the PostgreSQL counterpart of ``store.quick.read``:
    importing SQLAlchemy would take more than half of ``audit prediction``'s budget as a process.
    One read-only transaction on a database at exactly this code's schema; None means "look
    properly" (not PostgreSQL over psycopg, another schema revision, or any error at all)."""
    scheme, sep, rest = db_url.partition("://")
    if not sep or scheme not in ("postgresql", "postgresql+psycopg"):
        return None
    import psycopg
    from psycopg.rows import dict_row

    from modelledger.store.head import SCHEMA_HEAD

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


def _in_list(query: Query, sql: str, values: Iterable[str]) -> list[dict[str, Any]]:
    """Run ``sql`` (holding ``{in}`` where the IN list goes) over ``values`` in chunks."""
    out: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(set(values))):
        names = [f"v{i}" for i in range(len(chunk))]
        marks = ", ".join(f":{n}" for n in names)
        out.extend(query(sql.format(marks=marks), dict(zip(names, chunk, strict=True))))
    return out


def existing_subjects(conn: Connection, ids: Iterable[str]) -> set[str]:
    """Those of the ``mv-``/``sys-`` ids that are registered."""
    wanted = set(ids)
    query = sa_query(conn)
    found = {
        r["id"]
        for r in _in_list(
            query,
            "SELECT id FROM model_versions WHERE id IN ({marks})",
            (i for i in wanted if i.startswith("mv-")),
        )
    }
    found |= {
        r["id"]
        for r in _in_list(
            query,
            "SELECT id FROM systems WHERE id IN ({marks})",
            (i for i in wanted if i.startswith("sys-")),
        )
    }
    return found


# --- bulk writes -------------------------------------------------------------------------------

_COLUMNS = ", ".join(ROW_COLUMNS)
_SQLITE_INSERT = (
    f"INSERT INTO predictions ({_COLUMNS}) "
    f"VALUES ({', '.join('?' * (len(ROW_COLUMNS) - 1))}, CASE WHEN ? THEN {{segment}} END)"
)
_PG_COPY = f"COPY predictions ({_COLUMNS}) FROM STDIN"
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
    if dialect == "sqlite":
        assert isinstance(raw, sqlite3.Connection)
        sql = _SQLITE_INSERT.format(segment=f"'{segment}'" if segment else "NULL")
        try:
            raw.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise AlreadyLogged(f"a prediction is already logged: {exc}") from None
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"database error: {exc}") from None
        return
    if dialect == "postgresql":
        import psycopg

        with_segment, without = (segment,), (None,)
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
        return
    raise NotImplementedError(f"no bulk insert for dialect {dialect}")


def logged_keys(conn: Connection, request_ids: Iterable[str]) -> set[tuple[str, str, str]]:
    """(request_id, mode, version_id) of the logged predictions among ``request_ids``."""
    rows = _in_list(
        sa_query(conn),
        "SELECT request_id, mode, version_id FROM predictions WHERE request_id IN ({marks})",
        request_ids,
    )
    return {(r["request_id"], r["mode"], r["version_id"]) for r in rows}


def insert_segment(
    conn: Connection,
    segment_id: str,
    env: str,
    first_served_at: str,
    last_served_at: str,
    row_count: int,
    size: int,
    at: str,
    user: str,
) -> bool:
    """Record the Parquet segment; False when the same bytes were recorded before."""
    from sqlalchemy import text

    if sa_query(conn)("SELECT id FROM prediction_segments WHERE id = :id", {"id": segment_id}):
        return False
    conn.execute(
        text(
            "INSERT INTO prediction_segments (id, env, first_served_at, last_served_at, "
            "row_count, size, created_at, created_by) "
            "VALUES (:id, :env, :first, :last, :rows, :size, :at, :by)"
        ),
        {
            "id": segment_id,
            "env": env,
            "first": first_served_at,
            "last": last_served_at,
            "rows": row_count,
            "size": size,
            "at": at,
            "by": user,
        },
    )
    return True


def known_requests(conn: Connection, request_ids: Iterable[str]) -> set[str]:
    rows = _in_list(
        sa_query(conn),
        "SELECT DISTINCT request_id FROM predictions WHERE request_id IN ({marks})",
        request_ids,
    )
    return {r["request_id"] for r in rows}


def insert_feedback(
    conn: Connection, items: Sequence[FeedbackItem], at: str, user: str, source: str
) -> None:
    from sqlalchemy import text

    if not items:
        return
    conn.execute(
        text(
            "INSERT INTO feedback (request_id, label_json, was_correct, failure_cluster, "
            "received_at, received_by, source) VALUES (:rid, :label, :ok, :cluster, :at, :by, :src)"
        ),
        [
            {
                "rid": i.request_id,
                "label": i.label_json,
                "ok": i.was_correct,
                "cluster": i.failure_cluster,
                "at": at,
                "by": user,
                "src": source,
            }
            for i in items
        ],
    )


def count(conn: Connection, env: str | None = None) -> int:
    sql = "SELECT count(*) AS n FROM predictions"
    params: dict[str, Any] = {}
    if env is not None:
        sql += " WHERE env = :env"
        params["env"] = env
    return int(sa_query(conn)(sql, params)[0]["n"])


def segments(conn: Connection, env: str) -> list[dict[str, Any]]:
    return sa_query(conn)(
        "SELECT * FROM prediction_segments WHERE env = :env ORDER BY first_served_at, id",
        {"env": env},
    )


# --- the audit lookup (either driver) ----------------------------------------------------------

_MOVE_AT = (
    "SELECT * FROM env_history WHERE env = :env AND at <= :at ORDER BY at DESC, seq DESC LIMIT 1"
)
_PROMOTION_AT = (
    "SELECT * FROM env_history WHERE env = :env AND subject_id = :subject "
    "AND action IN ('promote', 'override') AND at <= :at ORDER BY at DESC, seq DESC LIMIT 1"
)
_DATA = (
    "SELECT vd.snapshot_id, vd.role, s.name, s.tree_sha256, s.created_at, "
    "(SELECT c.card_json FROM dataset_cards c WHERE c.snapshot_id = vd.snapshot_id "
    "ORDER BY c.revision DESC LIMIT 1) AS card_json "
    "FROM version_data vd LEFT JOIN snapshots s ON s.id = vd.snapshot_id "
    "WHERE vd.version_id = :id ORDER BY vd.role, vd.snapshot_id"
)


def _one(query: Query, sql: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
    rows = query(sql, params)
    return rows[0] if rows else None


def event(query: Query, seq: int) -> dict[str, Any] | None:
    """The stored event row with sequence number ``seq``."""
    return _one(query, "SELECT * FROM events WHERE seq = :seq", {"seq": seq})


def audit_rows(query: Query, request_id: str) -> dict[str, Any] | None:
    """Every row the answer to "what served REQUEST_ID, and why was it live?" needs; None when
    the request is not in the log. Each lookup is by key or by a short index range."""
    answers = query(
        "SELECT * FROM predictions WHERE request_id = :rid ORDER BY mode, version_id",
        {"rid": request_id},
    )
    if not answers:
        return None
    primary = next((a for a in answers if a["mode"] == "served"), answers[0])
    env, at = primary["env"], primary["served_at"]
    subject = primary["system_id"] or primary["version_id"]
    ids = {a["version_id"] for a in answers} | {a["system_id"] for a in answers if a["system_id"]}
    versions = {
        r["id"]: r
        for r in _in_list(
            query,
            "SELECT * FROM model_versions WHERE id IN ({marks})",
            [i for i in ids if i.startswith("mv-")],
        )
    }
    systems = {
        r["id"]: r
        for r in _in_list(
            query,
            "SELECT * FROM systems WHERE id IN ({marks})",
            [i for i in ids if i.startswith("sys-")],
        )
    }
    components = _in_list(
        query,
        "SELECT system_id, key, ref FROM system_components WHERE system_id IN ({marks}) "
        "ORDER BY key",
        list(systems),
    )
    data = query(_DATA, {"id": primary["version_id"]})
    move = _one(query, _MOVE_AT, {"env": env, "at": at})
    promotion = _one(query, _PROMOTION_AT, {"env": env, "subject": subject, "at": at})
    events = {
        m["event_seq"]: event(query, m["event_seq"]) for m in (move, promotion) if m is not None
    }
    environment = _one(query, "SELECT * FROM environments WHERE name = :env", {"env": env})
    evaluation = None
    promoted = events.get(promotion["event_seq"]) if promotion else None
    if promoted is not None:
        gate = json.loads(promoted["payload_json"]).get("gate") or {}
        if gate.get("eval_set"):
            evaluation = _one(
                query,
                "SELECT * FROM eval_results WHERE subject_id = :subject AND eval_set_id = :set",
                {"subject": subject, "set": gate["eval_set"]},
            )
    segment_ids = sorted({a["segment_id"] for a in answers if a["segment_id"]})
    segment_rows = _in_list(
        query, "SELECT * FROM prediction_segments WHERE id IN ({marks})", segment_ids
    )
    return {
        "answers": answers,
        "primary": primary,
        "versions": versions,
        "systems": systems,
        "components": components,
        "data": data,
        "move": move,
        "promotion": promotion,
        "events": events,
        "environment": environment,
        "eval_result": evaluation,
        "segments": segment_rows,
        "feedback": query(
            "SELECT * FROM feedback WHERE request_id = :rid ORDER BY id", {"rid": request_id}
        ),
    }
