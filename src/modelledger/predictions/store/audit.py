"""The rows ``audit prediction`` needs, through either driver (a :data:`~.query.Query`): the
request's answers, the versions and systems that gave them, the move and promotion that made the
subject live, the route in force, their events, the eval result the gate read, the segments
holding the features, and the feedback. Each lookup is by key or by a short index range.
Imports no SQLAlchemy: on SQLite the stdlib driver answers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from modelledger.predictions.store.query import Query, in_list

_MOVE_AT = (
    "SELECT * FROM env_history WHERE env = :env AND at <= :at ORDER BY at DESC, seq DESC LIMIT 1"
)
_PROMOTION_AT = (
    "SELECT * FROM env_history WHERE env = :env AND subject_id = :subject "
    "AND action IN ('promote', 'override') AND at <= :at ORDER BY at DESC, seq DESC LIMIT 1"
)
_ROUTE_AT = (
    "SELECT * FROM env_routes WHERE env = :env AND base_id = :base AND at <= :at "
    "ORDER BY revision DESC LIMIT 1"
)
_DATA = (
    "SELECT vd.snapshot_id, vd.role, s.name, s.tree_sha256, s.created_at, "
    "(SELECT c.card_json FROM dataset_cards c WHERE c.snapshot_id = vd.snapshot_id "
    "ORDER BY c.revision DESC LIMIT 1) AS card_json "
    "FROM version_data vd LEFT JOIN snapshots s ON s.id = vd.snapshot_id "
    "WHERE vd.version_id = :id ORDER BY vd.role, vd.snapshot_id"
)


def _one(query: Query, sql: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
    rows = query(sql, params)
    return rows[0] if rows else None


def event(query: Query, seq: int) -> dict[str, Any] | None:
    """The stored event row with sequence number ``seq``."""
    return _one(query, "SELECT * FROM events WHERE seq = :seq", {"seq": seq})


def audit_rows(query: Query, request_id: str) -> dict[str, Any] | None:
    """Every row the answer to "what served REQUEST_ID, and why was it live?" needs; None when
    the request is not in the log. Each lookup is by key or by a short index range."""
    answers = query(
        "SELECT * FROM predictions WHERE request_id = :rid ORDER BY mode, version_id",
        {"rid": request_id},
    )
    if not answers:
        return None
    primary = next((a for a in answers if a["mode"] == "served"), answers[0])
    env, at = primary["env"], primary["served_at"]
    subject = primary["system_id"] or primary["version_id"]
    ids = {a["version_id"] for a in answers} | {a["system_id"] for a in answers if a["system_id"]}
    versions = {
        r["id"]: r
        for r in in_list(
            query,
            "SELECT * FROM model_versions WHERE id IN ({marks})",
            [i for i in ids if i.startswith("mv-")],
        )
    }
    systems = {
        r["id"]: r
        for r in in_list(
            query,
            "SELECT * FROM systems WHERE id IN ({marks})",
            [i for i in ids if i.startswith("sys-")],
        )
    }
    components = in_list(
        query,
        "SELECT system_id, key, ref FROM system_components WHERE system_id IN ({marks}) "
        "ORDER BY key",
        list(systems),
    )
    data = query(_DATA, {"id": primary["version_id"]})
    move = _one(query, _MOVE_AT, {"env": env, "at": at})
    promotion = _one(query, _PROMOTION_AT, {"env": env, "subject": subject, "at": at})
    # the route in force then: what approved a canary or shadow arm to answer at all
    route = (
        _one(query, _ROUTE_AT, {"env": env, "base": move["subject_id"], "at": at}) if move else None
    )
    events = {
        m["event_seq"]: event(query, m["event_seq"])
        for m in (move, promotion, route)
        if m is not None
    }
    environment = _one(query, "SELECT * FROM environments WHERE name = :env", {"env": env})
    evaluation = None
    promoted = events.get(promotion["event_seq"]) if promotion else None
    if promoted is not None:
        gate = json.loads(promoted["payload_json"]).get("gate") or {}
        if gate.get("eval_set"):
            evaluation = _one(
                query,
                "SELECT * FROM eval_results WHERE subject_id = :subject AND eval_set_id = :set",
                {"subject": subject, "set": gate["eval_set"]},
            )
    segment_ids = sorted({a["segment_id"] for a in answers if a["segment_id"]})
    segment_rows = in_list(
        query, "SELECT * FROM prediction_segments WHERE id IN ({marks})", segment_ids
    )
    return {
        "answers": answers,
        "primary": primary,
        "versions": versions,
        "systems": systems,
        "components": components,
        "data": data,
        "move": move,
        "promotion": promotion,
        "route": route,
        "events": events,
        "environment": environment,
        "eval_result": evaluation,
        "segments": segment_rows,
        "feedback": query(
            "SELECT * FROM feedback WHERE request_id = :rid ORDER BY id", {"rid": request_id}
        ),
    }
