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

from modelledger.core.errors import Conflict, StoreUnavailable
from modelledger.predictions.records import ROW_COLUMNS, FeedbackItem

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


def recorded_feedback(conn: Connection, request_ids: Iterable[str]) -> set[FeedbackItem]:
    """The feedback already recorded for these requests, as items (to skip exact repeats)."""
    rows = _in_list(
        sa_query(conn),
        "SELECT request_id, label_json, was_correct, failure_cluster FROM feedback "
        "WHERE request_id IN ({marks})",
        request_ids,
    )
    return {
        FeedbackItem(
            r["request_id"],
            r["label_json"],
            None if r["was_correct"] is None else bool(r["was_correct"]),
            r["failure_cluster"],
        )
        for r in rows
    }


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
_ROUTE_AT = (
    "SELECT * FROM env_routes WHERE env = :env AND base_id = :base AND at <= :at "
    "ORDER BY revision DESC LIMIT 1"
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
    # the route in force then: what approved a canary or shadow arm to answer at all
    route = (
        _one(query, _ROUTE_AT, {"env": env, "base": move["subject_id"], "at": at}) if move else None
    )
    events = {
        m["event_seq"]: event(query, m["event_seq"])
        for m in (move, promotion, route)
        if m is not None
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
        "route": route,
        "events": events,
        "environment": environment,
        "eval_result": evaluation,
        "segments": segment_rows,
        "feedback": query(
            "SELECT * FROM feedback WHERE request_id = :rid ORDER BY id", {"rid": request_id}
        ),
    }


# --- comparing arms (``predictions compare``) --------------------------------------------------
#
# A served prediction is grouped by its arm, a shadow by its version alone (whatever arm name the
# server gave it): the group key is (arm or NULL, mode, version_id).
#
# On SQLite the (env, served_at) index finds a window's rows, but every column beyond the key
# then costs a lookup in the table's B-tree, in random order: ~4 µs a row, against ~0.2 µs a row
# for reading the whole table in order. So a window holding more than a twentieth of the table is
# read by a scan (``+`` before a column keeps SQLite from using an index on it), a smaller one
# through the index. PostgreSQL's planner makes that choice itself.

ArmKey = tuple[str | None, str, str]
_ARM = "CASE WHEN p.mode = 'served' THEN p.arm END"
_GROUP = f"{_ARM} AS arm, p.mode AS mode, p.version_id AS version_id"
_SCAN_RATIO = 20


class LogWindow:
    """One environment's predictions with ``since <= served_at < until`` (no end when ``until``
    is None), and how SQLite should read them: by a scan of the table or through the index."""

    __slots__ = ("env", "scan", "since", "until")

    def __init__(self, env: str, since: str, until: str | None, scan: bool = False) -> None:
        self.env = env
        self.since = since
        self.until = until
        self.scan = scan

    def where(self, dialect: str) -> tuple[str, dict[str, Any]]:
        plus = "+" if self.scan and dialect == "sqlite" else ""
        sql = f"{plus}p.env = :env AND {plus}p.served_at >= :since"
        params: dict[str, Any] = {"env": self.env, "since": self.since}
        if self.until is not None:
            sql += f" AND {plus}p.served_at < :until"
            params["until"] = self.until
        return sql, params


def log_window(conn: Connection, env: str, since: str, until: str | None = None) -> LogWindow:
    """The window, with the way to read it chosen (on SQLite) from its size against the table's:
    both counted on the index, the latter only as far as needed to decide."""
    window = LogWindow(env, since, until)
    if conn.dialect.name != "sqlite":
        return window
    query = sa_query(conn)
    where, params = window.where(conn.dialect.name)
    inside = int(query(f"SELECT count(*) AS n FROM predictions p WHERE {where}", params)[0]["n"])
    if inside == 0:
        return window
    cap = inside * _SCAN_RATIO
    outside = query(
        "SELECT count(*) AS n FROM (SELECT 1 FROM predictions p INDEXED BY "
        f"ix_predictions_env_served_at WHERE NOT ({where}) LIMIT :cap) o",
        {**params, "cap": cap},
    )[0]["n"]
    window.scan = int(outside) < cap
    return window


def _key(row: Mapping[str, Any]) -> ArmKey:
    return (row["arm"], row["mode"], row["version_id"])


def arm_counts(conn: Connection, window: LogWindow) -> list[dict[str, Any]]:
    """Per group (``arm``, ``mode``, ``version_id``): ``n`` predictions, ``confidence_n`` with a
    confidence and their ``mean_confidence``."""
    where, params = window.where(conn.dialect.name)
    return sa_query(conn)(
        f"SELECT {_GROUP}, count(*) AS n, count(p.confidence) AS confidence_n, "
        f"avg(p.confidence) AS mean_confidence FROM predictions p WHERE {where} "
        "GROUP BY 1, 2, 3",
        params,
    )


def arm_latency_percentiles(
    conn: Connection,
    window: LogWindow,
    percentiles: Sequence[float],
    groups: Sequence[ArmKey],
) -> dict[ArmKey, tuple[int, list[float]]]:
    """Per group: how many predictions recorded a latency, and the latency percentiles in the
    order asked (linear interpolation, as ``percentile_cont``). PostgreSQL computes them with
    ``percentile_cont``. SQLite has no such aggregate and sorting a million rows in its sorter
    (or with window functions) takes seconds: the latencies come out tagged with the number of
    their group (``groups``, as :func:`arm_counts` found them) and are sorted in Python."""
    from modelledger.predictions.arm_stats import percentile

    where, params = window.where(conn.dialect.name)
    out: dict[ArmKey, tuple[int, list[float]]] = {}
    if conn.dialect.name == "postgresql":
        ps = {f"p{i}": float(p) for i, p in enumerate(percentiles)}
        marks = ", ".join(f"CAST(:{name} AS double precision)" for name in ps)
        for row in sa_query(conn)(
            f"SELECT {_GROUP}, count(p.latency_ms) AS n, percentile_cont(ARRAY[{marks}]) "
            "WITHIN GROUP (ORDER BY p.latency_ms) AS ps "
            f"FROM predictions p WHERE {where} AND p.latency_ms IS NOT NULL GROUP BY 1, 2, 3",
            {**params, **ps},
        ):
            out[_key(row)] = (int(row["n"]), [float(v) for v in row["ps"]])
        return out
    if not groups:
        return out
    cases = []
    for i, (arm, mode, version_id) in enumerate(groups):
        cases.append(
            f"WHEN p.version_id = :g{i}v AND p.mode = :g{i}m AND {_ARM} IS :g{i}a THEN {i}"
        )
        params.update({f"g{i}v": version_id, f"g{i}m": mode, f"g{i}a": arm})
    sql = (
        f"SELECT CASE {' '.join(cases)} END, p.latency_ms FROM predictions p "
        f"WHERE {where} AND p.latency_ms IS NOT NULL"
    )
    values: list[list[float]] = [[] for _ in groups]
    appends = [v.append for v in values]
    raw = conn.connection.driver_connection
    if isinstance(raw, sqlite3.Connection):  # the DBAPI cursor: no row objects on the way
        rows: Iterable[Sequence[Any]] = raw.execute(sql, params)
    else:
        from sqlalchemy import text

        rows = conn.execute(text(sql), params)
    for code, latency in rows:
        if code is not None:
            appends[code](latency)
    for key, found in zip(groups, values, strict=True):
        if found:
            found.sort()
            out[key] = (len(found), [percentile(found, p) for p in percentiles])
    return out


# The newest feedback per request (by received_at, then insertion order) decides: a row joins
# only when no later one exists for its request (one probe of the request_id index each; cheaper
# on SQLite than ranking the whole feedback table, and the window's size bounds it).
_NEWEST = (
    "NOT EXISTS (SELECT 1 FROM feedback n "
    "WHERE n.request_id = l.request_id AND (n.received_at > l.received_at "
    "OR (n.received_at = l.received_at AND n.id > l.id)))"
)
_LATEST_FEEDBACK = f"JOIN feedback l ON l.request_id = p.request_id AND {_NEWEST}"
# A served answer with an explicit was_correct is judged by it; anything else with a label is
# judged by comparing the label with the output (a shadow's output was never shown, so the
# served answer's was_correct says nothing about it).
_JUDGED = "p.mode = 'served' AND l.was_correct IS NOT NULL"
_BY_LABEL = f"l.label_json IS NOT NULL AND NOT ({_JUDGED})"
# Labels are stored canonical, outputs only sorted and compact: equal text is equal JSON, but an
# output holding an integral float may equal a label whose text differs. Python writes those as
# ``2.0``/``-0.0`` (``.0`` then a delimiter or the end) or ``1e+16``; only outputs showing such a
# pattern go back to the caller, to compare as JSON.
_INTEGRAL_FLOAT = " OR ".join(
    f"p.output_json LIKE '{pattern}'" for pattern in ("%.0,%", "%.0}%", "%.0]%", "%.0", "%e+%")
)
_RECHECK = f"{_BY_LABEL} AND l.label_json <> p.output_json AND ({_INTEGRAL_FLOAT})"


def arm_feedback(conn: Connection, window: LogWindow) -> list[dict[str, Any]]:
    """Per group, the predictions with usable feedback: rows of ``n`` predictions of which
    ``correct`` were judged correct (by was_correct, or by a label equal to the output as stored
    text). ``label_json`` and ``output_json`` are NULL except on rows whose ``n`` predictions all
    had that label and output, differing as text but perhaps not as JSON: the caller decides
    those (their ``correct`` is 0)."""
    where, params = window.where(conn.dialect.name)
    return sa_query(conn)(
        f"SELECT {_GROUP}, "
        f"CASE WHEN {_RECHECK} THEN l.label_json END AS label_json, "
        f"CASE WHEN {_RECHECK} THEN p.output_json END AS output_json, count(*) AS n, "
        f"sum(CASE WHEN {_JUDGED} THEN (CASE WHEN l.was_correct THEN 1 ELSE 0 END) "
        "WHEN l.label_json = p.output_json THEN 1 ELSE 0 END) AS correct "
        f"FROM predictions p {_LATEST_FEEDBACK} "
        f"WHERE {where} AND (({_JUDGED}) OR ({_BY_LABEL})) GROUP BY 1, 2, 3, 4, 5",
        params,
    )
