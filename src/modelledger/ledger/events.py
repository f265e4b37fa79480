"""The event table: append with the chain's next link, read back in order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Row

from modelledger.core.canonical import canonical_json
from modelledger.core.events import KINDS, Event, Link, new_event
from modelledger.ledger import binding
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


def next_seq(conn: Connection) -> int:
    """The sequence number the transaction's next event will have: rows that name their event
    (``event_seq``) are written before it, so that it binds them."""
    link = head(conn)
    return link.seq + 1 if link else 1


def append(
    conn: Connection, kind: str, subject: str, actor: str, at: str, payload: dict[str, Any]
) -> Event:
    """Append the next link, carrying the digests of the rows written since the previous one.
    Callers hold the write lock (``Database.write``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}: add it to core.events.KINDS")
    log = binding.take_log(conn)
    if log is not None:
        payload = {**payload, "log": log}
    bound = binding.take(conn)
    if bound is not None:
        payload = {**payload, "bound": bound}
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
    actor: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int | None = 50,
) -> list[Event]:
    """The newest ``limit`` events, oldest first; every filter given narrows (``since``: at or
    after, ``until``: before, both ledger timestamps)."""
    q = select(events)
    for column, value in (
        (events.c.subject, subject),
        (events.c.kind, kind),
        (events.c.actor, actor),
    ):
        if value:
            q = q.where(column == value)
    if since:
        q = q.where(events.c.at >= since)
    if until:
        q = q.where(events.c.at < until)
    q = q.order_by(events.c.seq.desc())
    rows = conn.execute(q.limit(limit) if limit is not None else q).all()
    return [_to_event(r) for r in reversed(rows)]


def one(conn: Connection, seq: int) -> Event | None:
    """The event numbered ``seq``, if there is one."""
    row = conn.execute(select(events).where(events.c.seq == seq)).first()
    return _to_event(row) if row is not None else None


def payloads(conn: Connection, seqs: list[int]) -> dict[int, dict[str, Any]]:
    """The payloads of the events numbered ``seqs``, by number."""
    found: dict[int, dict[str, Any]] = {}
    for i in range(0, len(seqs), 500):
        rows = conn.execute(select(events).where(events.c.seq.in_(seqs[i : i + 500]))).all()
        found.update((r.seq, _to_event(r).payload) for r in rows)
    return found


def kinds(conn: Connection) -> list[str]:
    return sorted(conn.execute(select(events.c.kind).distinct()).scalars())


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(events)).scalar() or 0)


def subjects_with_prefix(conn: Connection, prefix: str) -> list[str]:
    """Up to 11 subjects starting with ``prefix``: enough to show an ambiguity."""
    q = select(events.c.subject).distinct()
    q = q.where(events.c.subject.startswith(prefix, autoescape=True))
    return sorted(conn.execute(q.limit(11)).scalars())
