"""What the writers check before writing, and small reads of what the log holds: which
subjects are registered, which prediction keys, requests and feedback are already recorded,
how many predictions an environment logged and its Parquet segments."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from modelledger.predictions.records import FeedbackItem
from modelledger.predictions.store.query import in_list, sa_query

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def existing_subjects(conn: Connection, ids: Iterable[str]) -> set[str]:
    """Those of the ``mv-``/``sys-`` ids that are registered."""
    wanted = set(ids)
    query = sa_query(conn)
    found = {
        r["id"]
        for r in in_list(
            query,
            "SELECT id FROM model_versions WHERE id IN ({marks})",
            (i for i in wanted if i.startswith("mv-")),
        )
    }
    found |= {
        r["id"]
        for r in in_list(
            query,
            "SELECT id FROM systems WHERE id IN ({marks})",
            (i for i in wanted if i.startswith("sys-")),
        )
    }
    return found


def logged_keys(conn: Connection, request_ids: Iterable[str]) -> set[tuple[str, str, str]]:
    """(request_id, mode, version_id) of the logged predictions among ``request_ids``."""
    rows = in_list(
        sa_query(conn),
        "SELECT request_id, mode, version_id FROM predictions WHERE request_id IN ({marks})",
        request_ids,
    )
    return {(r["request_id"], r["mode"], r["version_id"]) for r in rows}


def known_requests(conn: Connection, request_ids: Iterable[str]) -> set[str]:
    rows = in_list(
        sa_query(conn),
        "SELECT DISTINCT request_id FROM predictions WHERE request_id IN ({marks})",
        request_ids,
    )
    return {r["request_id"] for r in rows}


def recorded_feedback(conn: Connection, request_ids: Iterable[str]) -> set[FeedbackItem]:
    """The feedback already recorded for these requests, as items (to skip exact repeats)."""
    rows = in_list(
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
