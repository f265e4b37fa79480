"""Routing policy revisions per environment (append-only; the newest is in force)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from modelledger.ledger.binding import insert_rows
from modelledger.ledger.schema import env_routes


def latest(conn: Connection, env: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(env_routes)
        .where(env_routes.c.env == env)
        .order_by(env_routes.c.revision.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return {
        "revision": row.revision,
        "base_id": row.base_id,
        "policy": json.loads(row.policy_json),
        "digest": row.digest,
        "at": row.at,
        "set_by": row.set_by,
        "event_seq": row.event_seq,
    }


def add(
    conn: Connection,
    env: str,
    *,
    base_id: str,
    policy: dict[str, Any],
    digest: str,
    at: str,
    user: str,
    event_seq: int,
) -> int:
    current = conn.execute(
        select(func.max(env_routes.c.revision)).where(env_routes.c.env == env)
    ).scalar()
    revision = int(current or 0) + 1
    insert_rows(
        conn,
        env_routes,
        {
            "env": env,
            "revision": revision,
            "base_id": base_id,
            "policy_json": json.dumps(policy, sort_keys=True),
            "digest": digest,
            "at": at,
            "set_by": user,
            "event_seq": event_seq,
        },
    )
    return revision
