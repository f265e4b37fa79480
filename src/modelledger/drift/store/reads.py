"""The inference log as a drift check reads it: served counts per version in a window and the
outputs' distribution. The predictions with feedback, judged right or wrong, come from the
predictions capability's public read (:mod:`modelledger.predictions.store.judged`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelledger.predictions.store.query import sa_query
from modelledger.predictions.store.window import LogWindow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def served_versions(conn: Connection, window: LogWindow) -> list[dict[str, Any]]:
    """Per model version that served in the window: ``version_id`` and ``n``, busiest first.
    On SQLite the (env, served_at) index holds the primary key's columns too (the table is
    WITHOUT ROWID), so it answers alone, never touching the wide rows."""
    covering = LogWindow(window.env, window.since, window.until, scan=False)
    where, params = covering.where(conn.dialect.name)
    return sa_query(conn)(
        "SELECT p.version_id AS version_id, count(*) AS n FROM predictions p "
        f"WHERE {where} AND p.mode = 'served' GROUP BY p.version_id ORDER BY n DESC, p.version_id",
        params,
    )


def output_counts(
    conn: Connection, window: LogWindow, version_id: str, limit: int
) -> list[dict[str, Any]] | None:
    """(``output_json``, ``n``) of the version's served outputs; None when there are more than
    ``limit`` distinct outputs (a continuous output: bin it with :func:`output_bins`)."""
    where, params = window.where(conn.dialect.name)
    rows = sa_query(conn)(
        "SELECT p.output_json AS output_json, count(*) AS n FROM predictions p "
        f"WHERE {where} AND p.mode = 'served' AND p.version_id = :version "
        "GROUP BY p.output_json LIMIT :limit",
        {**params, "version": version_id, "limit": limit + 1},
    )
    return None if len(rows) > limit else rows


def output_bins(
    conn: Connection, window: LogWindow, version_id: str, edges: Sequence[float]
) -> tuple[list[int], int]:
    """Numeric outputs counted into the bins ``edges`` close, (e[i-1], e[i]]: (counts, others),
    ``others`` being outputs that are not numbers."""
    where, params = window.where(conn.dialect.name)
    number = (
        "CAST(p.output_json AS REAL)"
        if conn.dialect.name == "sqlite"
        else "CAST(p.output_json AS double precision)"
    )
    # a JSON number's text starts with a digit or a minus sign; anything else is not one
    is_number = "(substr(p.output_json, 1, 1) IN ('-','0','1','2','3','4','5','6','7','8','9'))"
    cases = " ".join(f"WHEN {number} <= :e{i} THEN {i}" for i in range(len(edges)))
    bin_of = f"CASE WHEN NOT {is_number} THEN -1 {cases} ELSE {len(edges)} END"
    rows = sa_query(conn)(
        f"SELECT {bin_of} AS b, count(*) AS n FROM predictions p "
        f"WHERE {where} AND p.mode = 'served' AND p.version_id = :version GROUP BY 1",
        {**params, "version": version_id, **{f"e{i}": float(e) for i, e in enumerate(edges)}},
    )
    counts = [0] * (len(edges) + 1)
    others = 0
    for row in rows:
        if int(row["b"]) < 0:
            others += int(row["n"])
        else:
            counts[int(row["b"])] += int(row["n"])
    return counts, others


def output_values(conn: Connection, window: LogWindow, version_id: str) -> list[str]:
    """Every served output of the version in the window, as JSON text (a baseline of a
    continuous output needs its values)."""
    where, params = window.where(conn.dialect.name)
    rows = sa_query(conn)(
        f"SELECT p.output_json AS o FROM predictions p WHERE {where} AND p.mode = 'served' "
        "AND p.version_id = :version",
        {**params, "version": version_id},
    )
    return [r["o"] for r in rows]
