"""Incidents live in the event chain only (no table of their own): read back by subject, appended
with the chain's next link. An incident's state is the replay of its events, so there is
nothing to keep in step with them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from modelledger.core.errors import NotFound
from modelledger.incidents.incident import (
    KIND_PREFIX,
    Incident,
    incident_id,
    parse_incident_id,
    replay,
)
from modelledger.ledger import events

OPENED = KIND_PREFIX + "opened"


def load(conn: Connection, ref: str) -> Incident:
    found = parse_incident_id(ref)
    rows = events.listing(conn, subject=found, limit=None)
    if not any(e.kind == OPENED for e in rows):
        raise NotFound(f"no incident {found}: `mledger incident list` shows them")
    return replay(found, rows)


def all_incidents(conn: Connection, env: str | None = None) -> list[Incident]:
    opened = events.listing(conn, kind=OPENED, limit=None)
    return [load(conn, e.subject) for e in opened if env is None or e.payload.get("env") == env]


def next_id(conn: Connection) -> str:
    """Under the write lock, so two openings never take one number."""
    return incident_id(len(events.listing(conn, kind=OPENED, limit=None)) + 1)


def record(
    conn: Connection, incident: str, step: str, actor: str, at: str, payload: dict[str, Any]
) -> int:
    return events.append(conn, KIND_PREFIX + step, incident, actor, at, payload).seq
