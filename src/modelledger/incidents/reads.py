"""``incident show`` and ``incident list``: the timeline from detection to prevention."""

from __future__ import annotations

from typing import Any

from modelledger.incidents import store
from modelledger.incidents.incident import Incident, seconds_between, timeline
from modelledger.ledger.home import Ledger


def _header(incident: Incident) -> dict[str, Any]:
    p = incident.opened.payload
    last = incident.entries[-1]
    return {
        "incident": incident.id,
        "env": incident.env,
        "version_id": incident.version_id,
        "label": p.get("label"),
        "status": incident.status,
        "closed": incident.closed,
        "detected_at": incident.detected_at,
        "opened_at": incident.opened.at,
        "reason": p.get("reason"),
        "alert_event": p.get("alert_event"),
        "last_at": last.at,
        "elapsed_s": seconds_between(incident.detected_at, last.at),
    }


def show(ledger: Ledger, ref: str) -> dict[str, Any]:
    with ledger.db.read() as conn:
        incident = store.load(conn, ref)
    return {
        **_header(incident),
        "timeline": timeline(incident),
        "steps": [e.to_json() for e in incident.entries],
    }


def list_incidents(ledger: Ledger, env: str | None = None) -> list[dict[str, Any]]:
    with ledger.db.read() as conn:
        found = store.all_incidents(conn, env)
    return [_header(i) for i in found]
