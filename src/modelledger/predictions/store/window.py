"""A window of one environment's inference log, and how SQLite should read it.

On SQLite the (env, served_at) index finds a window's rows, but every column beyond the key
then costs a lookup in the table's B-tree, in random order, far dearer per row than reading the
whole table in order. So a window holding more than a twentieth of the table is read by a scan
(``+`` before a column keeps SQLite from using an index on it), a smaller one through the index.
PostgreSQL's planner makes that choice itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelledger.predictions.store.query import sa_query

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

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
