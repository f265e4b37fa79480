"""Card revisions, for model versions and dataset snapshots alike: appended, never edited; the
newest revision is the card."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection

from modelledger.core.canonical import canonical_json
from modelledger.ledger.binding import insert_rows
from modelledger.ledger.schema import card_revisions, dataset_cards

_OWNER = {"model": (card_revisions, "version_id"), "dataset": (dataset_cards, "snapshot_id")}


def _table(kind: str) -> tuple[Table, str]:
    return _OWNER[kind]


def latest(conn: Connection, kind: str, owner_id: str) -> tuple[int, dict[str, Any]] | None:
    table, key = _table(kind)
    row = conn.execute(
        select(table.c.revision, table.c.card_json)
        .where(table.c[key] == owner_id)
        .order_by(table.c.revision.desc())
        .limit(1)
    ).first()
    return (row.revision, json.loads(row.card_json)) if row else None


def add_revision(
    conn: Connection, kind: str, owner_id: str, card: dict[str, Any], at: str, author: str
) -> int:
    table, key = _table(kind)
    current = conn.execute(
        select(func.max(table.c.revision)).where(table.c[key] == owner_id)
    ).scalar()
    revision = int(current or 0) + 1
    insert_rows(
        conn,
        table,
        {
            key: owner_id,
            "revision": revision,
            "card_json": canonical_json(card).decode("utf-8"),
            "created_at": at,
            "author": author,
        },
    )
    return revision


def all_latest(conn: Connection, kind: str) -> dict[str, dict[str, Any]]:
    """owner id → its newest card, for every owner that has one."""
    table, key = _table(kind)
    newest = (
        select(table.c[key].label("owner"), func.max(table.c.revision).label("revision"))
        .group_by(table.c[key])
        .subquery()
    )
    rows = conn.execute(
        select(table.c[key], table.c.card_json).join(
            newest, (table.c[key] == newest.c.owner) & (table.c.revision == newest.c.revision)
        )
    )
    return {row[0]: json.loads(row[1]) for row in rows}
