"""Eval sets (snapshots with the eval role) and eval results."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Row

from modelledger.core.canonical import canonical_json
from modelledger.core.search_index import metric_rows
from modelledger.evals.results import EvalResult
from modelledger.ledger.binding import insert_rows
from modelledger.ledger.schema import eval_metrics, eval_results, eval_sets


def _text(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


def add_eval_set(conn: Connection, snapshot_id: str, name: str, at: str, user: str) -> bool:
    """True when the snapshot became an eval set now, False when it already was one."""
    if is_eval_set(conn, snapshot_id):
        return False
    insert_rows(
        conn,
        eval_sets,
        {"snapshot_id": snapshot_id, "name": name, "created_at": at, "created_by": user},
    )
    return True


def is_eval_set(conn: Connection, snapshot_id: str) -> bool:
    q = select(eval_sets.c.snapshot_id).where(eval_sets.c.snapshot_id == snapshot_id)
    return conn.execute(q).first() is not None


def list_eval_sets(conn: Connection, name: str | None = None) -> list[dict[str, Any]]:
    q = select(eval_sets)
    if name:
        q = q.where(eval_sets.c.name == name)
    rows = conn.execute(q.order_by(eval_sets.c.created_at.desc()))
    return [
        {
            "id": r.snapshot_id,
            "name": r.name,
            "created_at": r.created_at,
            "created_by": r.created_by,
        }
        for r in rows
    ]


def _to_result(row: Row[Any]) -> EvalResult:
    return EvalResult(
        id=row.id,
        subject_id=row.subject_id,
        eval_set_id=row.eval_set_id,
        metrics=json.loads(row.metrics_json),
        slices=json.loads(row.slices_json),
        report_sha256=row.report_sha256,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def insert_result(conn: Connection, result: EvalResult) -> None:
    insert_rows(
        conn,
        eval_results,
        {
            "id": result.id,
            "subject_id": result.subject_id,
            "eval_set_id": result.eval_set_id,
            "metrics_json": _text(result.metrics),
            "slices_json": _text(result.slices),
            "report_sha256": result.report_sha256,
            "created_at": result.created_at,
            "created_by": result.created_by,
        },
    )
    insert_rows(
        conn,
        eval_metrics,
        metric_rows(result.id, result.subject_id, result.eval_set_id, result.metrics),
    )


def result_on(conn: Connection, subject_id: str, eval_set_id: str) -> EvalResult | None:
    row = conn.execute(
        select(eval_results).where(
            eval_results.c.subject_id == subject_id, eval_results.c.eval_set_id == eval_set_id
        )
    ).first()
    return _to_result(row) if row else None


def results_of(conn: Connection, subject_id: str) -> list[EvalResult]:
    rows = conn.execute(
        select(eval_results)
        .where(eval_results.c.subject_id == subject_id)
        .order_by(eval_results.c.created_at)
    )
    return [_to_result(r) for r in rows]


def scored_on(conn: Connection, eval_set_id: str, subject_ids: Iterable[str]) -> set[str]:
    """Those of ``subject_ids`` that have a result on the eval set."""
    wanted = sorted(set(subject_ids))
    if not wanted:
        return set()
    q = select(eval_results.c.subject_id).where(
        eval_results.c.eval_set_id == eval_set_id, eval_results.c.subject_id.in_(wanted)
    )
    return set(conn.execute(q).scalars())
