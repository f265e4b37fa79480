"""Predictions judged by their feedback: the one rule for which feedback judges a prediction and
how, and the public read of one version's judged predictions that the drift checks use.

The rule, as SQL over ``predictions p`` joined to ``feedback l`` by :data:`LATEST_FEEDBACK_JOIN`:

- the newest feedback per request (by received_at, then insertion order) decides;
- a served answer with an explicit was_correct is judged by it; anything else with a label is
  judged by comparing the label with the output (a shadow's output was never shown, so the
  served answer's was_correct says nothing about it);
- labels are stored canonical, outputs only sorted and compact: equal text is equal JSON, but an
  output holding an integral float may equal a label whose text differs. Those rows
  (:data:`RECHECK`) go back to the caller with their label and output, to compare as JSON
  (:func:`modelledger.core.stats.label_matches`).

``predictions compare`` aggregates with the same fragments (:mod:`.arms`).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from modelledger.predictions.store.window import LogWindow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# A row joins only when no later feedback exists for its request: one probe of the request_id
# index each, cheaper on SQLite than ranking the whole feedback table, and the window's size
# bounds it.
_NEWEST = (
    "NOT EXISTS (SELECT 1 FROM feedback n "
    "WHERE n.request_id = l.request_id AND (n.received_at > l.received_at "
    "OR (n.received_at = l.received_at AND n.id > l.id)))"
)
LATEST_FEEDBACK_JOIN = f"JOIN feedback l ON l.request_id = p.request_id AND {_NEWEST}"
_BY_WAS_CORRECT = "p.mode = 'served' AND l.was_correct IS NOT NULL"
_BY_LABEL = f"l.label_json IS NOT NULL AND NOT ({_BY_WAS_CORRECT})"
JUDGEABLE = f"(({_BY_WAS_CORRECT}) OR ({_BY_LABEL}))"
"""The condition for a prediction to have usable feedback: an explicit verdict or a label."""
CORRECT = (
    f"CASE WHEN {_BY_WAS_CORRECT} THEN (CASE WHEN l.was_correct THEN 1 ELSE 0 END) "
    "WHEN l.label_json = p.output_json THEN 1 ELSE 0 END"
)
"""1 when judged correct by was_correct or by a label equal to the output as text, else 0."""
# Python writes integral floats as ``2.0``/``-0.0`` (``.0`` then a delimiter or the end) or
# ``1e+16``; only outputs showing such a pattern can equal a label whose text differs.
_INTEGRAL_FLOAT = " OR ".join(
    f"p.output_json LIKE '{pattern}'" for pattern in ("%.0,%", "%.0}%", "%.0]%", "%.0", "%e+%")
)
RECHECK = f"{_BY_LABEL} AND l.label_json <> p.output_json AND ({_INTEGRAL_FLOAT})"
"""Rows judged by label whose label and output differ as text but perhaps not as JSON."""

JudgedRow = tuple[str, str, str | None, str | None, str | None, int]
"""(request_id, served_at, failure_cluster, label_json, output_json, correct)"""


def judged_predictions(
    conn: Connection, window: LogWindow, version_id: str, served: int
) -> list[JudgedRow]:
    """The version's ``served`` predictions in the window that have usable feedback (the newest
    per request), as tuples: ``correct`` is 1/0 by was_correct or by label equal to output as
    stored text; ``label_json``/``output_json`` are given only where text comparison cannot
    decide, for the caller to compare as JSON.

    The join starts from whichever side is smaller: the window's predictions, probing feedback
    by request id, or (on SQLite, which has no statistics to choose) all feedback, probing the
    predictions by primary key — a million-prediction window with a tenth of it judged is then
    100,000 probes instead of a million."""
    where, params = window.where(conn.dialect.name)
    params = {**params, "version": version_id}
    columns = (
        "p.request_id, p.served_at, l.failure_cluster, "
        f"CASE WHEN {RECHECK} THEN l.label_json END, "
        f"CASE WHEN {RECHECK} THEN p.output_json END, "
        f"{CORRECT}"
    )
    raw = conn.connection.driver_connection
    if isinstance(raw, sqlite3.Connection):
        total = raw.execute("SELECT count(*) FROM feedback").fetchone()[0]
        if total < served:
            # CROSS JOIN: SQLite keeps the written order, feedback outside
            sql = (
                f"SELECT {columns} FROM feedback l CROSS JOIN predictions p "
                "WHERE p.request_id = l.request_id AND p.mode = 'served' "
                f"AND p.version_id = :version AND {where} AND {JUDGEABLE} AND {_NEWEST}"
            )
        else:
            sql = (
                f"SELECT {columns} FROM predictions p {LATEST_FEEDBACK_JOIN} "
                f"WHERE {where} AND p.mode = 'served' AND p.version_id = :version AND {JUDGEABLE}"
            )
        return [tuple(r) for r in raw.execute(sql, params)]
    from sqlalchemy import text

    sql = (
        f"SELECT {columns} FROM predictions p {LATEST_FEEDBACK_JOIN} "
        f"WHERE {where} AND p.mode = 'served' AND p.version_id = :version AND {JUDGEABLE}"
    )
    return [tuple(r) for r in conn.execute(text(sql), params)]
