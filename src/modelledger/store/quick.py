"""Read-only lookups through the stdlib sqlite3 driver, for hot paths that would otherwise pay
for importing SQLAlchemy. Rows looked up here are immutable, so a hit is as good as the full
path's; anything unexpected returns None and the caller takes the full path."""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import quote, unquote

_TABLES = {"snapshots"}  # immutable tables only: a stale read of a mutable one would mislead


def sqlite_row(db_url: str, table: str, row_id: str) -> dict[str, Any] | None:
    if table not in _TABLES or not db_url.startswith("sqlite:///"):
        return None
    path = unquote(db_url.removeprefix("sqlite:///").split("?", 1)[0])
    if not path or path == ":memory:":
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        conn.row_factory = sqlite3.Row
        row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone()
        return dict(row) if row is not None else None
    except sqlite3.Error:
        return None
    finally:
        conn.close()
