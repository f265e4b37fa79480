"""What left the store on purpose, so a reader says so instead of "missing" or "corrupt": gc's
tombstones (``gc.collected``, one per version or snapshot whose bytes went under the retention
policy) and erasures (``data.erased``, one per snapshot whose bytes went at a deletion request).
"""

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
ERASED = "data.erased"
KINDS = (KIND, ERASED)


def collected(conn: Connection, subject_id: str) -> dict[str, Any] | None:
    """The newest tombstone or erasure of ``subject_id`` (its payload, ``kind`` and ``at``)."""
    return _newest(conn, subject_id, KINDS)


def erased(conn: Connection, subject_id: str) -> dict[str, Any] | None:
    """The newest erasure of ``subject_id``, or None."""
    return _newest(conn, subject_id, (ERASED,))


def _newest(conn: Connection, subject_id: str, kinds: tuple[str, ...]) -> dict[str, Any] | None:
    row = conn.execute(
        select(events.c.kind, events.c.at, events.c.payload_json)
        .where(events.c.subject == subject_id, events.c.kind.in_(kinds))
        .order_by(events.c.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else _found(row)


def erasures(conn: Connection) -> list[dict[str, Any]]:
    """Every erasure, oldest first, with its ``subject``: a handful, read whole."""
    rows = conn.execute(
        select(events.c.kind, events.c.subject, events.c.at, events.c.payload_json)
        .where(events.c.kind == ERASED)
        .order_by(events.c.seq)
    )
    return [{**_found(r), "subject": r.subject} for r in rows]


def subjects(conn: Connection) -> set[str]:
    """Everything whose bytes gc collected or an erasure removed."""
    return set(conn.execute(select(events.c.subject).where(events.c.kind.in_(KINDS))).scalars())


def note(found: dict[str, Any]) -> str:
    """How a reader says it: when, and under which policy or at which request."""
    day = str(found["at"])[:10]
    if found.get("kind") == ERASED:
        return (
            f"erased on {day} at a deletion request ({found.get('basis', '')}): "
            f"{len(found.get('blobs', []))} object(s) left the store "
            "(the record, its lineage and the models trained on it remain)"
        )
    return (
        f"its bytes were collected by gc on {day} under retention policy "
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


def refuse_erased(ledger: Ledger, subject_id: str, label: str) -> None:
    """CheckFailed when ``subject_id`` was erased, even if some of its bytes remain (an erasure
    by record removes only the files that held it)."""
    with ledger.db.read() as conn:
        gone = erased(conn, subject_id)
    if gone is not None:
        raise CheckFailed(f"{label}: {note(gone)}")


def _found(row: Any) -> dict[str, Any]:
    return {**json.loads(row.payload_json), "kind": row.kind, "at": row.at}
