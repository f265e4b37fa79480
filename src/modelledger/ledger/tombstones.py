"""What gc collected: its tombstone events (``gc.collected``, one per version or snapshot whose
bytes went), so a reader of a collected artifact says so instead of "missing" or "corrupt"."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from modelledger.core.errors import CheckFailed
from modelledger.ledger.schema import events

if TYPE_CHECKING:
    from modelledger.ledger.home import Ledger

KIND = "gc.collected"


def collected(conn: Connection, subject_id: str) -> dict[str, Any] | None:
    """The newest tombstone of ``subject_id`` (its payload and ``at``), or None."""
    row = conn.execute(
        select(events.c.at, events.c.payload_json)
        .where(events.c.subject == subject_id, events.c.kind == KIND)
        .order_by(events.c.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else {**json.loads(row.payload_json), "at": row.at}


def subjects(conn: Connection) -> set[str]:
    """Everything gc has collected bytes of."""
    return set(conn.execute(select(events.c.subject).where(events.c.kind == KIND)).scalars())


def note(found: dict[str, Any]) -> str:
    """How a reader says it: when, under which policy."""
    return (
        f"its bytes were collected by gc on {str(found['at'])[:10]} under retention policy "
        f"{str(found.get('policy', ''))[:12]} (the record, scores and lineage remain)"
    )


def require_bytes(ledger: Ledger, subject_id: str, label: str, sha256: str) -> None:
    """CheckFailed saying so when gc collected the bytes of ``subject_id`` (``sha256`` is not in
    the store), rather than a reader's "missing"."""
    if ledger.blobs.has(sha256):
        return
    with ledger.db.read() as conn:
        gone = collected(conn, subject_id)
    if gone is not None:
        raise CheckFailed(f"{label}: {note(gone)}")
