"""The event table: append with the chain's next link, read back in order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Row

from modelledger.core.canonical import canonical_json
from modelledger.core.events import Event, Link, new_event
from modelledger.ledger.prepared import Prepared
from modelledger.ledger.schema import events


def _to_event(row: Row[Any]) -> Event:
    return Event(
        seq=row.seq,
        kind=row.kind,
        subject=row.subject,
        actor=row.actor,
        at=row.at,
        payload=json.loads(row.payload_json),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


# only the head's (seq, hash): its payload may be large (a gate report) and is not needed
_HEAD = Prepared(select(events.c.seq, events.c.hash).order_by(events.c.seq.desc()).limit(1))
_INSERT = Prepared(insert(events))


# where a write transaction keeps the chain's head once read (registration appends two events)
_KEPT_HEAD = "mledger.events.head"


def head(conn: Connection) -> Link | None:
    """The chain's head, read once per write transaction: it holds the write lock, so only its
    own appends move the head."""
    txn = conn.get_transaction()
    kept = conn.info.get(_KEPT_HEAD)
    if kept is not None and kept[0] is txn and not conn.in_nested_transaction():
        return kept[1]  # type: ignore[no-any-return]
    row = _HEAD.first(conn)
    link = Link(row["seq"], row["hash"]) if row else None
    conn.info[_KEPT_HEAD] = (txn, link)
    return link


def append(
    conn: Connection, kind: str, subject: str, actor: str, at: str, payload: dict[str, Any]
) -> Event:
    """Append the next link. Callers hold the write lock (``Database.write``)."""
    ev = new_event(head(conn), kind, subject, actor, at, payload)
    _INSERT.run(
        conn,
        {
            "seq": ev.seq,
            "kind": ev.kind,
            "subject": ev.subject,
            "actor": ev.actor,
            "at": ev.at,
            "payload_json": canonical_json(ev.payload).decode("utf-8"),
            "prev_hash": ev.prev_hash,
            "hash": ev.hash,
        },
    )
    conn.info[_KEPT_HEAD] = (conn.get_transaction(), Link(ev.seq, ev.hash))
    return ev


def iter_all(conn: Connection, batch: int = 5000) -> Iterator[Event]:
    """Every event in sequence order, fetched in batches so the chain can be verified in O(1) memory."""
    after = 0
    while True:
        rows = conn.execute(
            select(events).where(events.c.seq > after).order_by(events.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield _to_event(row)
        after = rows[-1].seq


def listing(
    conn: Connection,
    *,
    subject: str | None = None,
    kind: str | None = None,
    limit: int = 50,
) -> list[Event]:
    """The newest ``limit`` events, oldest first."""
    q = select(events)
    if subject:
        q = q.where(events.c.subject == subject)
    if kind:
        q = q.where(events.c.kind == kind)
    rows = conn.execute(q.order_by(events.c.seq.desc()).limit(limit)).all()
    return [_to_event(r) for r in reversed(rows)]
