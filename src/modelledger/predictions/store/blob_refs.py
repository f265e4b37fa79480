"""The blobs the inference log and eval results name, for ``mledger fsck``: each Parquet
segment (its id is the blob's sha256) and each eval report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelledger.predictions.store.query import sa_query

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def segment_blobs(conn: Connection) -> list[dict[str, Any]]:
    """``id`` (the segment blob's sha256), ``env`` and ``size`` of every logged segment."""
    return sa_query(conn)("SELECT id, env, size FROM prediction_segments ORDER BY id", {})


def eval_report_blobs(conn: Connection) -> list[dict[str, Any]]:
    """``id`` and ``report_sha256`` of every eval result that stored a report."""
    return sa_query(conn)(
        "SELECT id, report_sha256 FROM eval_results WHERE report_sha256 IS NOT NULL ORDER BY id",
        {},
    )
