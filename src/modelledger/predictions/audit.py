"""``audit prediction``: everything about one served request, in one answer — when it was served
and what it answered; the system, version and arm that answered it; the version's full tuple (code,
data snapshots with their dataset cards' sources, lock, params); the move that made it live (who
asked, who approved, when, under which policy, with which gate and eval report); and whether the
answer came from the pinned version, a canary or a shadow arm.

Free of SQLAlchemy at import: on SQLite it answers through the stdlib driver (see ``Ledger.quick``)
and on PostgreSQL through psycopg alone, because "what served request X?" is asked by people in
the middle of an incident.
"""

from __future__ import annotations

import json
from typing import Any

from modelledger.core.errors import NotFound
from modelledger.ledger.home import Ledger
from modelledger.models.version import ModelVersion
from modelledger.predictions.records import arm_role
from modelledger.predictions.store.audit import audit_rows
from modelledger.predictions.store.query import postgres_read, sa_query, sqlite_query

_MISSING = object()


def audit_prediction(ledger: Ledger, request_id: str, *, one_shot: bool = False) -> dict[str, Any]:
    """The audit answer for one request. ``one_shot`` (a CLI process asking once) also lets
    PostgreSQL answer through a connection of its own instead of the ledger's pooled engine,
    sparing the SQLAlchemy import; a long-lived caller keeps the pool."""
    found: Any = ledger.quick(lambda conn: audit_rows(sqlite_query(conn), request_id) or _MISSING)
    if found is None and one_shot and "db" not in ledger.__dict__:
        found = postgres_read(
            ledger.config.db_url, lambda query: audit_rows(query, request_id) or _MISSING
        )
    if found is None:  # not answerable on a fast path: the SQLAlchemy one
        with ledger.db.read() as conn:
            found = audit_rows(sa_query(conn), request_id) or _MISSING
    if found is _MISSING:
        raise NotFound(f"no prediction with request id {request_id!r} in the inference log")
    return assemble(found)


def _label(row: dict[str, Any] | None) -> str | None:
    return f"{row['name']}@{row['number']}" if row else None


def _move(row: dict[str, Any] | None, labels: dict[str, str]) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "env": row["env"],
        "seq": row["seq"],
        "action": row["action"],
        "id": row["subject_id"],
        "label": labels.get(row["subject_id"]),
        "previous": row["previous_id"],
        "at": row["at"],
        "requester": row["requester"],
        "approvers": json.loads(row["approvers_json"]),
        "reason": row["reason"],
        "policy_sha256": row["policy_sha256"],
        "event": row["event_seq"],
    }


def _promotion(rows: dict[str, Any], labels: dict[str, str]) -> dict[str, Any] | None:
    move = _move(rows["promotion"], labels)
    if move is None:
        return None
    ev = rows["events"].get(move["event"])
    payload = json.loads(ev["payload_json"]) if ev else {}
    result = rows["eval_result"]
    move.update(
        {
            "event_kind": ev["kind"] if ev else None,
            "event_hash": ev["hash"] if ev else None,
            "gate": payload.get("gate"),
            "eval_result": {
                "id": result["id"],
                "eval_set": result["eval_set_id"],
                "metrics": json.loads(result["metrics_json"]),
                "slices": json.loads(result["slices_json"]),
                "report_sha256": result["report_sha256"],
                "created_at": result["created_at"],
            }
            if result
            else None,
        }
    )
    return move


def _route(rows: dict[str, Any], answering: str) -> dict[str, Any] | None:
    """The route revision in force when the request was served, and its approval of this arm."""
    route = rows["route"]
    if route is None:
        return None
    ev = rows["events"].get(route["event_seq"])
    payload = json.loads(ev["payload_json"]) if ev else {}
    return {
        "revision": route["revision"],
        "event": route["event_seq"],
        "at": route["at"],
        "requester": payload.get("requester", route["set_by"]),
        "approvers": payload.get("approvers", []),
        "reason": payload.get("reason"),
        "digest": route["digest"],
        "policy_sha256": payload.get("policy_sha256"),
        "gate": (payload.get("gates") or {}).get(answering),
    }


def _data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        card = json.loads(r["card_json"]) if r["card_json"] else None
        out.append(
            {
                "id": r["snapshot_id"],
                "role": r["role"],
                "name": r["name"],
                "tree_sha256": r["tree_sha256"],
                "card": card is not None,
                "sources": card.get("sources", []) if card else [],
            }
        )
    return out


def _answer(row: dict[str, Any], labels: dict[str, str], pinned: str | None) -> dict[str, Any]:
    answered_by = {row["version_id"]} | ({row["system_id"]} if row["system_id"] else set())
    return {
        "mode": row["mode"],
        "role": arm_role(row["mode"], answered_by, pinned),
        "arm": row["arm"],
        "version_id": row["version_id"],
        "label": labels.get(row["version_id"]),
        "system_id": row["system_id"],
        "output": json.loads(row["output_json"]),
        "confidence": row["confidence"],
        "latency_ms": row["latency_ms"],
        "segment": row["segment_id"],
    }


def assemble(rows: dict[str, Any]) -> dict[str, Any]:
    """The audit answer from the rows :func:`modelledger.predictions.store.audit.audit_rows` gathered."""
    primary = rows["primary"]
    labels: dict[str, str] = {
        i: f"{r['name']}@{r['number']}" for i, r in (rows["versions"] | rows["systems"]).items()
    }
    move = rows["move"]
    pinned = move["subject_id"] if move else None
    version_row = rows["versions"].get(primary["version_id"])
    version = None
    if version_row is not None:
        version = ModelVersion.from_record(version_row).to_json()
        version["data"] = _data(rows["data"])
    system = None
    if primary["system_id"] and primary["system_id"] in rows["systems"]:
        srow = rows["systems"][primary["system_id"]]
        system = {
            "id": srow["id"],
            "label": _label(srow),
            "components": {
                c["key"]: c["ref"]
                for c in rows["components"]
                if c["system_id"] == primary["system_id"]
            },
        }
    answer = _answer(primary, labels, pinned)
    live = _move(move, labels)
    live_event = rows["events"].get(move["event_seq"]) if move else None
    if live is not None and live_event is not None:
        live["event_kind"] = live_event["kind"]
    env = rows["environment"]
    return {
        "request_id": primary["request_id"],
        "env": primary["env"],
        "served_at": primary["served_at"],
        "input_sha256": primary["input_sha256"],
        **answer,
        "version": version,
        "system": system,
        "live": live,
        "promotion": _promotion(rows, labels),
        "route": _route(rows, primary["system_id"] or primary["version_id"]),
        "env_now": {"id": env["current_id"], "since": env["since"]} if env else None,
        "answers": [_answer(a, labels, pinned) for a in rows["answers"]],
        "segments": [
            {
                "id": s["id"],
                "rows": s["row_count"],
                "first_served_at": s["first_served_at"],
                "last_served_at": s["last_served_at"],
            }
            for s in rows["segments"]
        ],
        "feedback": [
            {
                "label": json.loads(f["label_json"]) if f["label_json"] is not None else None,
                "was_correct": None if f["was_correct"] is None else bool(f["was_correct"]),
                "failure_cluster": f["failure_cluster"],
                "received_at": f["received_at"],
                "source": f["source"],
            }
            for f in rows["feedback"]
        ],
    }
