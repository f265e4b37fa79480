"""Comparing arms (``predictions compare``): per group of a window's predictions, counts,
confidence, latency percentiles and feedback.

A served prediction is grouped by its arm, a shadow by its version alone (whatever arm name the
server gave it): the group key is (arm or NULL, mode, version_id).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelledger.predictions.arm_stats import percentile
from modelledger.predictions.store.judged import CORRECT, JUDGEABLE, LATEST_FEEDBACK_JOIN, RECHECK
from modelledger.predictions.store.query import sa_query
from modelledger.predictions.store.window import LogWindow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

ArmKey = tuple[str | None, str, str]
_ARM = "CASE WHEN p.mode = 'served' THEN p.arm END"
_GROUP = f"{_ARM} AS arm, p.mode AS mode, p.version_id AS version_id"


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
    ``percentile_cont``. SQLite has no such aggregate, and sorting a large window in its sorter
    (or with window functions) is slow: the latencies come out tagged with the number of their
    group (``groups``, as :func:`arm_counts` found them) and are sorted in Python."""
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


def arm_feedback(conn: Connection, window: LogWindow) -> list[dict[str, Any]]:
    """Per group, the predictions with usable feedback (:mod:`.judged`'s rule): rows of ``n``
    predictions of which ``correct`` were judged correct (by was_correct, or by a label equal to
    the output as stored text). ``label_json`` and ``output_json`` are NULL except on rows whose
    ``n`` predictions all had that label and output, differing as text but perhaps not as JSON:
    the caller decides those (their ``correct`` is 0)."""
    where, params = window.where(conn.dialect.name)
    return sa_query(conn)(
        f"SELECT {_GROUP}, "
        f"CASE WHEN {RECHECK} THEN l.label_json END AS label_json, "
        f"CASE WHEN {RECHECK} THEN p.output_json END AS output_json, count(*) AS n, "
        f"sum({CORRECT}) AS correct "
        f"FROM predictions p {LATEST_FEEDBACK_JOIN} "
        f"WHERE {where} AND {JUDGEABLE} GROUP BY 1, 2, 3, 4, 5",
        params,
    )
