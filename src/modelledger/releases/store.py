"""Environment pointers (the one mutable table), their policies and the history of every move."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Row

from modelledger.core.canonical import canonical_json
from modelledger.ledger.binding import insert_rows
from modelledger.ledger.schema import env_history, env_policies, environments, gate_policies
from modelledger.releases.environment import Environment, Move, PlannedMove


def _to_env(row: Row[Any]) -> Environment:
    return Environment(row.name, row.current_id, row.since, row.policy_sha256, row.created_at)


def _to_move(row: Row[Any]) -> Move:
    return Move(
        env=row.env,
        seq=row.seq,
        subject_id=row.subject_id,
        previous_id=row.previous_id,
        action=row.action,
        at=row.at,
        requester=row.requester,
        approvers=tuple(json.loads(row.approvers_json)),
        reason=row.reason,
        policy_sha256=row.policy_sha256,
        event_seq=row.event_seq,
    )


_GET = select(environments).where(environments.c.name == bindparam("name"))


def get(conn: Connection, name: str) -> Environment | None:
    row = conn.execute(_GET, {"name": name}).first()
    return _to_env(row) if row else None


def ensure(conn: Connection, name: str, at: str) -> Environment:
    found = get(conn, name)
    if found is not None:
        return found
    conn.execute(insert(environments).values(name=name, created_at=at))
    return Environment(name, None, None, None, at)


def names(conn: Connection) -> list[Environment]:
    return [_to_env(r) for r in conn.execute(select(environments).order_by(environments.c.name))]


def policy(conn: Connection, sha256: str) -> dict[str, Any]:
    text = conn.execute(
        select(gate_policies.c.policy_json).where(gate_policies.c.sha256 == sha256)
    ).scalar_one()
    return dict(json.loads(text))


def next_policy_revision(conn: Connection, env: str) -> int:
    current = conn.execute(
        select(func.max(env_policies.c.revision)).where(env_policies.c.env == env)
    ).scalar()
    return int(current or 0) + 1


def set_policy(
    conn: Connection,
    env: str,
    sha256: str,
    policy_json: dict[str, Any],
    source_text: str,
    at: str,
    user: str,
) -> int:
    """Pin the policy (stored once per content hash) to the environment; returns its revision."""
    known = conn.execute(
        select(gate_policies.c.sha256).where(gate_policies.c.sha256 == sha256)
    ).first()
    if known is None:
        insert_rows(
            conn,
            gate_policies,
            {
                "sha256": sha256,
                "policy_json": canonical_json(policy_json).decode("utf-8"),
                "source_text": source_text,
                "created_at": at,
                "created_by": user,
            },
        )
    revision = next_policy_revision(conn, env)
    insert_rows(
        conn,
        env_policies,
        {"env": env, "revision": revision, "policy_sha256": sha256, "at": at, "set_by": user},
    )
    conn.execute(
        update(environments).where(environments.c.name == env).values(policy_sha256=sha256)
    )
    return revision


def record_move(conn: Connection, planned: PlannedMove) -> Move:
    """Append the history row and move the pointer, in the caller's (write-locked) transaction."""
    last = conn.execute(
        select(func.max(env_history.c.seq)).where(env_history.c.env == planned.env)
    ).scalar()
    move = planned.numbered(int(last or 0) + 1)
    insert_rows(
        conn,
        env_history,
        {
            "env": move.env,
            "seq": move.seq,
            "subject_id": move.subject_id,
            "previous_id": move.previous_id,
            "action": move.action,
            "at": move.at,
            "requester": move.requester,
            "approvers_json": json.dumps(list(move.approvers)),
            "reason": move.reason,
            "policy_sha256": move.policy_sha256,
            "event_seq": move.event_seq,
        },
    )
    conn.execute(
        update(environments)
        .where(environments.c.name == move.env)
        .values(current_id=move.subject_id, since=move.at)
    )
    return move


def history(conn: Connection, env: str, limit: int | None = None) -> list[Move]:
    """Oldest first; with ``limit``, the newest ``limit`` moves."""
    q = select(env_history).where(env_history.c.env == env).order_by(env_history.c.seq.desc())
    if limit is not None:
        q = q.limit(limit)
    return [_to_move(r) for r in reversed(conn.execute(q).all())]


def current_move(conn: Connection, env: str) -> Move | None:
    moves = history(conn, env, limit=1)
    return moves[0] if moves else None


_AT = (
    select(env_history)
    .where(env_history.c.env == bindparam("env"), env_history.c.at <= bindparam("at"))
    .order_by(env_history.c.at.desc(), env_history.c.seq.desc())
    .limit(1)
)


def move_at(conn: Connection, env: str, at: str) -> Move | None:
    """The move in force at ``at`` (ledger time text): the last one made at or before it."""
    row = conn.execute(_AT, {"env": env, "at": at}).first()
    return _to_move(row) if row else None


def ever_live(conn: Connection, env: str | None = None) -> set[str]:
    q = select(env_history.c.subject_id).distinct()
    if env:
        q = q.where(env_history.c.env == env)
    return set(conn.execute(q).scalars())


def policy_revisions(conn: Connection, env: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(env_policies).where(env_policies.c.env == env).order_by(env_policies.c.revision)
    )
    return [
        {"revision": r.revision, "policy_sha256": r.policy_sha256, "at": r.at, "set_by": r.set_by}
        for r in rows
    ]
