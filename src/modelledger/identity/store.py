"""Reading the directory from the ledger and appending signed identity changes."""

from __future__ import annotations

import copy
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from modelledger.core.errors import NotAllowed
from modelledger.core.events import Event
from modelledger.identity import signing
from modelledger.identity.directory import KINDS, Directory, IdentityEvent, replay, statement_of
from modelledger.ledger import events
from modelledger.ledger.schema import events as events_table


def ledger_name(conn: Connection) -> str | None:
    """The first event's hash, which names the ledger in what is signed for it."""
    t = events_table
    return conn.execute(select(t.c.hash).where(t.c.seq == 1)).scalar()


def identity_events(
    conn: Connection, kinds: tuple[str, ...] = KINDS, after: int = 0
) -> list[IdentityEvent]:
    """The identity events in log order (those after event ``after`` only, when given)."""
    t = events_table
    q = select(t.c.seq, t.c.kind, t.c.payload_json, t.c.hash).where(t.c.kind.in_(kinds))
    if after:
        q = q.where(t.c.seq > after)
    rows = conn.execute(q.order_by(t.c.seq))
    return [IdentityEvent(r.seq, r.kind, json.loads(r.payload_json), r.hash) for r in rows]


def directory(conn: Connection) -> Directory:
    return replay(ledger_name(conn), identity_events(conn))


def append_signed(
    conn: Connection,
    kind: str,
    subject: str,
    actor: str,
    at: str,
    body: dict[str, Any],
    private_key: Any,
) -> Event:
    """Sign ``body`` as the next identity change and append it, in the caller's write
    transaction; NotAllowed (nothing written) when the directory would refuse it."""
    d = directory(conn)
    seq = events.next_seq(conn)
    payload = {**body, "ledger": None if seq == 1 else d.ledger, "prev": d.tip}
    payload["signed"] = signing.sign(private_key, statement_of(kind, payload))
    trial = copy.deepcopy(d)
    trial.apply(IdentityEvent(seq, kind, payload, "pending"))
    if len(trial.problems) > len(d.problems):
        raise NotAllowed(f"{kind} refused: {trial.problems[-1][1]}")
    return events.append(conn, kind, subject, actor, at, payload)
