"""The event ledger as people read it: the log, and verification of the hash chain."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from modelledger.core.errors import AmbiguousReference, InvalidInput
from modelledger.core.events import KINDS, ChainCheck, Event, verify_chain
from modelledger.core.stats import time_bounds
from modelledger.ledger import events
from modelledger.ledger.home import Ledger

_ID_PREFIX = re.compile(r"(mv|ds|tf|ev|sys)-[0-9a-f]{4,64}")


@dataclass(frozen=True)
class EventQuery:
    """Which events ``audit log`` lists: every field given narrows."""

    subject: str | None = None  # a full id or prefix, an environment's name, or a reference
    kind: str | None = None
    actor: str | None = None
    since: str | None = None  # ISO-8601, or a duration back from now (24h, 7d)
    until: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class EventLog:
    events: list[Event]
    total: int  # events in the ledger, to tell "none match" from "none yet"


def log(
    ledger: Ledger,
    query: EventQuery,
    resolve: Callable[[Connection, str], str] | None = None,
) -> EventLog:
    """The newest matching events, oldest first. ``resolve`` turns a reference the ledger alone
    cannot read (``NAME@N``, ``NAME@ENV``) into an id; a prefix is matched against the subjects
    events name. A kind no event has is refused, naming the kinds there are."""
    since, until = time_bounds(query.since, query.until, datetime.now(UTC))
    with ledger.db.read() as conn:
        subject = _subject(conn, query.subject, resolve) if query.subject else None
        if query.kind:
            _known_kind(conn, query.kind)
        found = events.listing(
            conn, subject=subject, kind=query.kind, actor=query.actor, since=since,
            until=until, limit=query.limit,
        )  # fmt: skip
        total = len(found) if found else events.count(conn)
    return EventLog(found, total)


def _subject(conn: Connection, text: str, resolve: Callable[[Connection, str], str] | None) -> str:
    if events.listing(conn, subject=text, limit=1):
        return text  # named exactly: an id, an environment, a request
    if "@" in text and resolve is not None:
        return resolve(conn, text)
    if _ID_PREFIX.fullmatch(text):
        matches = events.subjects_with_prefix(conn, text)
        if len(matches) > 1:
            raise AmbiguousReference(text, matches)
        if matches:
            return matches[0]
    return text  # nothing names it: the log says no events match


def _known_kind(conn: Connection, kind: str) -> None:
    """Refuse a kind that no event can have, naming the kinds there are, closest first."""
    known = sorted(KINDS | set(events.kinds(conn)))
    if kind in known:
        return
    close = difflib.get_close_matches(kind, known, n=len(known), cutoff=0.0)
    raise InvalidInput(f"--kind {kind!r}: no event has kind {kind!r}; kinds: {', '.join(close)}")


def verify(ledger: Ledger) -> ChainCheck:
    with ledger.db.read() as conn:
        return verify_chain(events.iter_all(conn))
