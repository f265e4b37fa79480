"""Read-only lookups through the stdlib sqlite3 driver, for hot paths that would otherwise pay
for importing SQLAlchemy. Each lookup runs in one read transaction (a consistent snapshot
under WAL) on a database whose schema is exactly the one this code expects; anything unexpected
returns None and the caller takes the full path."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from modelledger.core.refs import NameEnv, NameNumber, Ref
from modelledger.ledger.head import SCHEMA_HEAD

T = TypeVar("T")


def read(db_url: str, lookup: Callable[[sqlite3.Connection], T]) -> T | None:
    if not db_url.startswith("sqlite:///"):
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
        conn.execute("BEGIN")
        head = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if head is None or head[0] != SCHEMA_HEAD:
            return None
        return lookup(conn)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def erasures(conn: sqlite3.Connection) -> list[tuple[str, str, dict[str, Any]]]:
    """Every erasure as (snapshot, when, payload), oldest first (``tombstones.erasures``)."""
    rows = conn.execute(
        "SELECT subject, at, payload_json FROM events WHERE kind = 'data.erased' ORDER BY seq"
    ).fetchall()
    return [(r[0], r[1], json.loads(r[2])) for r in rows]


def snapshot_row(conn: sqlite3.Connection, snapshot_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM snapshots WHERE id = ?", (snapshot_id,)).fetchone()
    return dict(row) if row is not None else None


def env_summary(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    """The rows ``env show`` needs, or None when there is no such environment."""
    env = conn.execute("SELECT * FROM environments WHERE name = ?", (name,)).fetchone()
    if env is None:
        return None
    move = conn.execute(
        "SELECT * FROM env_history WHERE env = ? ORDER BY seq DESC LIMIT 1", (name,)
    ).fetchone()
    ids = [i for i in (env["current_id"], move["previous_id"] if move else None) if i]
    marks = ",".join("?" * len(ids))
    labels = {
        r["id"]: f"{r['name']}@{r['number']}"
        for r in conn.execute(
            f"SELECT id, name, number FROM model_versions WHERE id IN ({marks}) "
            f"UNION ALL SELECT id, name, number FROM systems WHERE id IN ({marks})",
            ids + ids,
        )
    }
    rehearsal = conn.execute(
        "SELECT seq, at, payload_json FROM events WHERE subject = ? AND kind = 'rehearsal' "
        "ORDER BY seq DESC LIMIT 1",
        (name,),
    ).fetchone()
    return {
        "env": dict(env),
        "move": dict(move) if move else None,
        "labels": labels,
        "rehearsal": dict(rehearsal) if rehearsal else None,
    }


def version_record(conn: sqlite3.Connection, ref: Ref) -> dict[str, Any] | None:
    """The version row a reference names, with its newest card revision; None when the answer
    is not a single version (the full path then explains: not found, ambiguous, wrong kind)."""
    if isinstance(ref, NameNumber):
        rows = conn.execute(
            "SELECT * FROM model_versions WHERE name = ? AND number = ?", (ref.name, ref.number)
        ).fetchall()
    elif isinstance(ref, NameEnv):
        rows = conn.execute(
            "SELECT v.* FROM model_versions v JOIN environments e ON e.current_id = v.id "
            "WHERE e.name = ? AND v.name = ?",
            (ref.env, ref.name),
        ).fetchall()
    elif ref.kind in (None, "mv"):
        prefix = f"mv-{ref.hex}"
        rows = conn.execute(
            "SELECT * FROM model_versions WHERE id >= ? AND id < ? ORDER BY id LIMIT 2",
            (prefix, prefix + "g"),  # 'g' sorts after every hex digit: a prefix range scan
        ).fetchall()
    else:
        return None
    if len(rows) != 1:
        return None
    version = dict(rows[0])
    card = conn.execute(
        "SELECT revision, card_json FROM card_revisions WHERE version_id = ? "
        "ORDER BY revision DESC LIMIT 1",
        (version["id"],),
    ).fetchone()
    tags = conn.execute(
        "SELECT key, value FROM version_tags WHERE version_id = ? ORDER BY key", (version["id"],)
    ).fetchall()
    description = conn.execute(
        "SELECT text FROM version_descriptions WHERE version_id = ?", (version["id"],)
    ).fetchone()
    tried = conn.execute(
        "SELECT seq, at, payload_json FROM events WHERE subject = ? AND kind = 'reproduction' "
        "ORDER BY seq DESC LIMIT 1",
        (version["id"],),
    ).fetchall()
    return {
        "version": version,
        "erasures": erasures(conn),
        "reproductions": [(r[0], r[1], json.loads(r[2])) for r in tried],
        "card": dict(card) if card else None,
        "tags": {r["key"]: r["value"] for r in tags},
        "description": description[0] if description else None,
    }
