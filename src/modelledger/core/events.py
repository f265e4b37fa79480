"""The event ledger: an append-only hash chain over every change.

``hash = sha256(prev_hash || canonical(body))`` where ``prev_hash`` is the previous event's hex
digest as ASCII (64 zeros before the first event) and ``body`` holds every recorded field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modelledger.core.canonical import canonical_json

GENESIS = "0" * 64

# Every kind of event the ledger records: ``audit log --kind`` checks against it, and appending
# any other kind is a programming error.
KINDS = frozenset(
    {
        "data.card",
        "data.erased",
        "data.snapshot",
        "data.transform",
        "drift.profile",
        "drift_alert",
        "env.created",
        "env.policy",
        "eval.recorded",
        "eval_set.created",
        "feedback.imported",
        "gc.collected",
        "identity.key",
        "identity.principal",
        "identity.root",
        "identity.token",
        "incident.assessed",
        "incident.contained",
        "incident.diagnosed",
        "incident.opened",
        "incident.prevented",
        "incident.recovered",
        "ledger.bound",
        "ledger.key",
        "model.card",
        "model.description",
        "model.registered",
        "model.tag",
        "predictions.imported",
        "promotion",
        "promotion.approval",
        "promotion.override",
        "promotion.request",
        "rehearsal",
        "reproduction",
        "retention.policy",
        "retrain_triggered",
        "rollback",
        "route.set",
        "system.created",
    }
)


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str
    subject: str
    actor: str
    at: str  # ISO-8601 UTC, microseconds: part of the hashed body, so kept as text
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        return event_body(self.seq, self.kind, self.subject, self.actor, self.at, self.payload)

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "prev_hash": self.prev_hash, "hash": self.hash}


def event_body(
    seq: int, kind: str, subject: str, actor: str, at: str, payload: dict[str, Any]
) -> dict[str, Any]:
    return {
        "seq": seq,
        "kind": kind,
        "subject": subject,
        "actor": actor,
        "at": at,
        "payload": payload,
    }


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class Link:
    """What the next event needs of the chain's head: its sequence number and hash."""

    seq: int
    hash: str


def new_event(
    prev: Event | Link | None,
    kind: str,
    subject: str,
    actor: str,
    at: str,
    payload: dict[str, Any],
) -> Event:
    seq = prev.seq + 1 if prev else 1
    prev_hash = prev.hash if prev else GENESIS
    body = event_body(seq, kind, subject, actor, at, payload)
    return Event(seq, kind, subject, actor, at, payload, prev_hash, chain_hash(prev_hash, body))


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    reason: str


@dataclass(frozen=True)
class ChainCheck:
    checked: int  # events that verified before the first broken link (or all of them)
    head: str  # hash of the last verified event; GENESIS for an empty ledger
    broken: BrokenLink | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_chain(events: Iterable[Event]) -> ChainCheck:
    """Walk the chain; stop at the first event whose sequence, link or hash does not follow."""
    expected_seq, prev_hash = 1, GENESIS
    for event in events:
        reason = None
        if event.seq != expected_seq:
            reason = f"event {expected_seq} is missing (found {event.seq} next)"
        elif event.prev_hash != prev_hash:
            reason = "prev_hash does not match the previous event's hash"
        elif chain_hash(prev_hash, event.body()) != event.hash:
            reason = "recorded contents do not match the event's hash"
        if reason:
            return ChainCheck(expected_seq - 1, prev_hash, BrokenLink(expected_seq, reason))
        expected_seq, prev_hash = event.seq + 1, event.hash
    return ChainCheck(expected_seq - 1, prev_hash, None)


def first_unsound(found: list[dict[str, Any]]) -> int | None:
    """The number of the first of these events (``Event.to_json``'s form, any order) that does not
    hash to its ``hash``, or that does not follow the event numbered one below it when that one
    is among them too; None when every one is sound."""
    by_seq = {e["seq"]: e for e in found}
    for e in sorted(found, key=lambda e: e["seq"]):
        body = event_body(e["seq"], e["kind"], e["subject"], e["actor"], e["at"], e["payload"])
        before = by_seq.get(e["seq"] - 1)
        if chain_hash(e["prev_hash"], body) != e["hash"] or (
            before is not None and before["hash"] != e["prev_hash"]
        ):
            return int(e["seq"])
    return None
