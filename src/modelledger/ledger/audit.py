"""The event ledger as people read it: the log, and verification of the hash chain."""

from __future__ import annotations

from modelledger.core.events import ChainCheck, Event, verify_chain
from modelledger.ledger import events
from modelledger.ledger.home import Ledger


def log(
    ledger: Ledger, subject: str | None = None, kind: str | None = None, limit: int = 50
) -> list[Event]:
    with ledger.db.read() as conn:
        return events.listing(conn, subject=subject, kind=kind, limit=limit)


def verify(ledger: Ledger) -> ChainCheck:
    with ledger.db.read() as conn:
        return verify_chain(events.iter_all(conn))
