"""``env show``: what is live in an environment now. Its own module, free of SQLAlchemy at import,
because on SQLite it answers through the stdlib driver (see ``Ledger.quick``): the answer is what
serving code and on-call people ask for most, and it should come back at once."""

from __future__ import annotations

import json
from typing import Any

from modelledger.ledger.home import Ledger


def show(ledger: Ledger, name: str) -> dict[str, Any]:
    from modelledger.ledger.quick import env_summary

    rows = ledger.quick(lambda conn: env_summary(conn, name))
    if rows is None:  # not SQLite, or no such environment: the full path (and its error message)
        rows = _full(ledger, name)
    return _summary(rows)


def _full(ledger: Ledger, name: str) -> dict[str, Any]:
    from modelledger.ledger import events
    from modelledger.models.deployables import labels
    from modelledger.releases import store as environments
    from modelledger.releases.environments import require_env

    with ledger.db.read() as conn:
        env = require_env(conn, name)
        move = environments.current_move(conn, name)
        names = labels(conn, {env.current_id, move.previous_id if move else None})
        found = events.listing(conn, subject=name, kind="rehearsal", limit=1)
    rehearsal = found[0] if found else None
    return {
        "env": {
            "name": env.name,
            "current_id": env.current_id,
            "since": env.since,
            "policy_sha256": env.policy_sha256,
            "created_at": env.created_at,
        },
        "move": {
            "action": move.action,
            "requester": move.requester,
            "approvers_json": json.dumps(list(move.approvers)),
            "reason": move.reason,
            "previous_id": move.previous_id,
        }
        if move
        else None,
        "labels": names,
        "rehearsal": {
            "seq": rehearsal.seq,
            "at": rehearsal.at,
            "payload_json": json.dumps(rehearsal.payload),
        }
        if rehearsal
        else None,
    }


def _summary(rows: dict[str, Any]) -> dict[str, Any]:
    env, move, labels, rehearsal = rows["env"], rows["move"], rows["labels"], rows["rehearsal"]
    previous = move["previous_id"] if move else None
    return {
        "env": env["name"],
        "id": env["current_id"],
        "label": labels.get(env["current_id"]),
        "since": env["since"],
        "action": move["action"] if move else None,
        "promoted_by": move["requester"] if move else None,
        "approved_by": json.loads(move["approvers_json"]) if move else [],
        "reason": move["reason"] if move else None,
        "previous": previous,
        "previous_label": labels.get(previous) if previous else None,
        "policy_sha256": env["policy_sha256"],
        "created_at": env["created_at"],
        "last_rehearsal": {
            "at": rehearsal["at"],
            "passed": json.loads(rehearsal["payload_json"]).get("passed"),
            "event": rehearsal["seq"],
        }
        if rehearsal
        else None,
    }
