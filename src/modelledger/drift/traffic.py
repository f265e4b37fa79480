"""Served traffic as the drift commands read it: the Parquet segments overlapping a window, opened
in one DuckDB connection as the view ``served`` (served rows inside the window only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from modelledger.data.tables import LocalTables
from modelledger.ledger.home import Ledger
from modelledger.predictions.store.reads import segments

if TYPE_CHECKING:
    import duckdb
    from sqlalchemy.engine import Connection


def overlapping_segments(
    conn: Connection, env: str, since: str, until: str
) -> list[dict[str, Any]]:
    return [
        s for s in segments(conn, env)
        if s["last_served_at"] >= since and s["first_served_at"] < until
    ]  # fmt: skip


@contextmanager
def served_traffic(
    ledger: Ledger, segments: list[dict[str, Any]], since: str, until: str
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection holding the view ``served``; segment blobs are fetched to local paths
    when the store is remote, for as long as the connection lives."""
    from modelledger.drift.features import segment_view
    from modelledger.tabular import connect

    with LocalTables(ledger) as local:
        con = connect()
        try:
            paths = [local.checked_path(s["id"], "prediction segment") for s in segments]
            segment_view(con, "served", paths, since, until)
            yield con
        finally:
            con.close()
