"""Promotion as a workflow: a request opened with its gate report, signed approvals or a
rejection, and the move itself once the policy is satisfied.

Each step is an event naming the authenticated actor. The request is signed by its requester;
each decision by its approver. The move happens in the transaction that records the approval
completing the count, and only while the environment still runs what the request was made
against under the same policy: otherwise the request is superseded and a new one is needed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from modelledger.core.clock import format_time, parse_time
from modelledger.core.errors import AmbiguousReference, Conflict, InvalidInput, NotAllowed, NotFound
from modelledger.core.stats import parse_duration
from modelledger.identity import signing
from modelledger.identity import store as identities
from modelledger.identity.directory import Directory
from modelledger.ledger import events
from modelledger.ledger.home import Ledger, now
from modelledger.ledger.schema import events as events_table
from modelledger.releases import store as environments
from modelledger.releases.environment import Move, PlannedMove
from modelledger.releases.environments import check_unmoved
from modelledger.releases.gate import GatePolicy, approval_rows
from modelledger.releases.requests import (
    DECISIONS,
    Approval,
    Request,
    sign_approval,
    tally,
    why_not,
)

DEFAULT_EXPIRY = "7d"
MAX_SKEW = timedelta(minutes=5)  # between a client's clock and the ledger's (record_decision)
_DONE_KINDS = ("promotion", "promotion.override")


@dataclass(frozen=True)
class RequestState:
    request: Request
    approvals: tuple[Approval, ...]
    status: str  # pending | promoted | rejected | expired | superseded
    approved_by: tuple[str, ...]
    need: int
    from_: tuple[str, ...]
    event_seq: int  # the request's event
    promotion_seq: int | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        r = self.request
        return {
            "id": r.id,
            "status": self.status,
            "detail": self.detail,
            "env": r.env,
            "version": r.version,
            "label": r.label,
            "previous": r.previous,
            "action": r.action,
            "reason": r.reason,
            "requester": r.requester,
            "registrant": r.registrant,
            "requested_at": r.requested_at,
            "expires_at": r.expires_at,
            "policy_sha256": r.policy_sha256,
            "ledger": r.ledger,
            "needs": {"count": self.need, "from": list(self.from_)},
            "approved_by": list(self.approved_by),
            "decisions": [a.to_json() for a in self.approvals],
            "event": self.event_seq,
            "promotion_event": self.promotion_seq,
            "gate": r.gate,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RequestState:
        """A request as ``to_json`` wrote it (``GET /api/v1/requests/ID``)."""
        try:
            return cls(
                request=Request.from_payload(d),
                approvals=tuple(Approval.from_json(a) for a in d["decisions"]),
                status=d["status"],
                approved_by=tuple(d["approved_by"]),
                need=d["needs"]["count"],
                from_=tuple(d["needs"]["from"]),
                event_seq=d["event"],
                promotion_seq=d["promotion_event"],
                detail=d["detail"],
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"not a promotion request: {exc}") from None


def requester_of(d: Directory, private_key: Any) -> str:
    """The principal whose key signs a request; they need the writer role."""
    if d.empty:
        raise InvalidInput(
            "this promotion needs approval, and approvals are signatures by known people: set up "
            "identities first (`mledger identity keygen`, then `mledger identity init NAME`; "
            "see docs/tutorials/s09-signed-approvals.md)"
        )
    if private_key is None:
        raise InvalidInput(
            "opening a promotion request takes your signing key (--key or MLEDGER_KEY)"
        )
    who = d.signer(signing.public_key_text(private_key))
    if who is None:
        raise NotAllowed(
            f"key {signing.fingerprint(signing.public_key_text(private_key))} belongs to no "
            "enabled principal of this ledger"
        )
    if not who.can("writer"):
        raise NotAllowed(f"{who.name} has no writer role: only writers request promotions")
    return who.name


def open_request(
    conn: Connection,
    request: Request,
    private_key: Any,
    signed: dict[str, str] | None = None,
) -> int:
    """Record ``request`` (its requester already checked), signed with ``private_key`` or
    carrying ``signed``, the requester's signature made elsewhere (checked by the caller), in
    the caller's write transaction: the event's number."""
    payload = request.payload()
    payload["signed"] = dict(signed) if signed else signing.sign(private_key, request.body())
    ev = events.append(
        conn, "promotion.request", request.id, request.requester, request.requested_at, payload
    )
    return ev.seq


def expiry(at: str, text: str) -> str:
    return format_time(parse_time(at) + parse_duration(text, "--expires"))


# -- reading -------------------------------------------------------------------------------------
def _rows(conn: Connection, kinds: tuple[str, ...], subject: str | None = None) -> list[Any]:
    t = events_table
    q = select(t.c.seq, t.c.kind, t.c.subject, t.c.payload_json).where(t.c.kind.in_(kinds))
    if subject is not None:
        q = q.where(t.c.subject == subject)
    return list(conn.execute(q.order_by(t.c.seq)))


def resolve(conn: Connection, text: str) -> str:
    """A request id from its full id or a unique prefix (``pr-`` optional)."""
    want = text if text.startswith("pr-") else f"pr-{text}"
    found = [r.subject for r in _rows(conn, ("promotion.request",)) if r.subject.startswith(want)]
    if not found:
        raise NotFound(f"no promotion request {text!r} (`mledger request list --all` lists them)")
    if len(found) > 1:
        raise AmbiguousReference(text, found)
    return str(found[0])


def state_of(
    conn: Connection, request_id: str, d: Directory | None = None, at: str | None = None
) -> RequestState:
    rows = _rows(conn, ("promotion.request",), request_id)
    if not rows:
        raise NotFound(f"no promotion request {request_id}")
    req = Request.from_payload(json.loads(rows[0].payload_json))
    decisions = tuple(
        Approval.from_json(json.loads(r.payload_json)["approval"])
        for r in _rows(conn, ("promotion.approval",), request_id)
    )
    done = None
    for r in _rows(conn, _DONE_KINDS, req.env):
        if json.loads(r.payload_json).get("request") == request_id:
            done = r.seq
    return _judge(conn, req, decisions, rows[0].seq, done, d, at or now())


def _policy(conn: Connection, req: Request) -> GatePolicy:
    from modelledger.releases.gate import DEFAULT_POLICY, parse_policy, policy_sha256

    if req.policy_sha256 == policy_sha256(DEFAULT_POLICY):
        return DEFAULT_POLICY
    return parse_policy(environments.policy(conn, req.policy_sha256))


def _judge(
    conn: Connection,
    req: Request,
    decisions: tuple[Approval, ...],
    seq: int,
    done: int | None,
    d: Directory | None,
    at: str,
) -> RequestState:
    d = d if d is not None else identities.directory(conn)
    policy = _policy(conn, req)
    need, from_ = policy.approvals_needed, policy.approvers_from
    t = tally(req, decisions, d, from_)
    state = RequestState(req, decisions, "pending", t.approved_by, need, from_, seq, done)

    def with_(status: str, detail: str = "") -> RequestState:
        return RequestState(req, decisions, status, t.approved_by, need, from_, seq, done, detail)

    if done is not None:
        return with_("promoted", f"event #{done}")
    if t.rejected_by is not None:
        r = t.rejected_by
        return with_("rejected", f"by {r.principal}: {r.reason or 'no reason given'}")
    env = environments.get(conn, req.env)
    if (
        env is None
        or env.current_id != req.previous
        or (env.policy_sha256 or None)
        not in (
            None,
            req.policy_sha256,
        )
    ):
        return with_("superseded", f"{req.env} moved or its policy changed since the request")
    if at >= req.expires_at:
        return with_("expired", f"at {req.expires_at}")
    return state


def listing(ledger: Ledger, env: str | None = None, everything: bool = False) -> list[RequestState]:
    with ledger.db.read() as conn:
        d, at = identities.directory(conn), now()
        out = []
        for r in _rows(conn, ("promotion.request",)):
            s = state_of(conn, r.subject, d, at)
            if (env is None or s.request.env == env) and (everything or s.status == "pending"):
                out.append(s)
    return out


def show(ledger: Ledger, text: str, at: str | None = None) -> RequestState:
    """One request as it stands now (or at ``at``, a ledger timestamp: expiry)."""
    with ledger.db.read() as conn:
        return state_of(conn, resolve(conn, text), at=at)


# -- deciding ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Executed:
    move: Move
    event_seq: int
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """As ``promote --json`` prints a promotion that needed no approval."""
        p = self.payload
        return {
            "env": p["env"],
            "id": p["version"],
            "label": p["label"],
            "previous": p["previous"],
            "action": self.move.action,
            "approvers": p["approvers"],
            "requester": p["requester"],
            "reason": p["reason"],
            "at": p["at"],
            "policy_sha256": p["policy_sha256"],
            "event": self.event_seq,
            "gate": p["gate"],
            "request": p["request"],
        }


@dataclass(frozen=True)
class Decided:
    state: RequestState
    approval: Approval
    event_seq: int
    executed: Executed | None = None

    @property
    def move(self) -> Move | None:
        return self.executed.move if self.executed else None

    def to_json(self) -> dict[str, Any]:
        return {
            "request": self.state.to_json(),
            "decision": self.approval.to_json(),
            "event": self.event_seq,
            "promoted": self.executed is not None,
            "promotion": self.executed.to_json() if self.executed else None,
        }


def decide_request(
    ledger: Ledger, text: str, private_key: Any, decision: str, reason: str | None = None
) -> Decided:
    """Approve or reject a pending request with ``private_key``; a completed count moves the
    environment in the same transaction."""

    def sign(req: Request, principal: str, at: str) -> Approval:
        return sign_approval(private_key, req, Approval(req.id, decision, reason, principal, at))

    return _decide(ledger, text, signing.public_key_text(private_key), decision, reason, sign)


def record_decision(
    ledger: Ledger, approval: Approval, principal: str, max_skew: timedelta = MAX_SKEW
) -> Decided:
    """Record an approval or rejection signed elsewhere (by a client of ``mledger server``) as
    ``decide_request`` records its own: ``principal`` is who is known to be asking (the token's),
    and the key that signed must be theirs. The approval names its request by full id and its
    time, which must be within ``max_skew`` of the ledger's."""
    key = str(approval.signed.get("key", ""))

    def given(req: Request, who: str, at: str) -> Approval:
        if who != principal:
            raise NotAllowed(f"the approval is signed with {who}'s key; {principal} is asking")
        skew = abs(parse_time(approval.at) - parse_time(at))
        if skew > max_skew:
            raise InvalidInput(
                f"the approval is dated {approval.at}, {skew} away from the ledger's clock "
                f"({at}): sign it again with the time now"
            )
        return approval

    return _decide(ledger, approval.request, key, approval.decision, approval.reason, given, True)


def _decide(
    ledger: Ledger,
    text: str,
    key: str,
    decision: str,
    reason: str | None,
    approval_for: Callable[[Request, str, str], Approval],
    exact: bool = False,
) -> Decided:
    """The decision signed with ``key``: ``approval_for(request, principal, at)`` makes (or
    checks) the signed approval once the request and the signer are known."""
    if decision not in DECISIONS:
        raise InvalidInput(f"unknown decision {decision!r}: approve or reject")
    if decision == "reject" and not (reason and reason.strip()):
        raise InvalidInput("a rejection needs --reason: the requester should learn why")
    with ledger.db.write() as conn:
        request_id = resolve(conn, text)
        if exact and request_id != text:
            raise NotFound(f"no promotion request {text} (name it by its full id)")
        d = identities.directory(conn)
        at = now()
        state = state_of(conn, request_id, d, at)
        if state.status != "pending":
            raise Conflict(
                f"request {request_id} is {state.status} ({state.detail}); nothing was recorded"
            )
        who = d.signer(key)
        if who is None:
            raise NotAllowed(
                f"key {_fingerprint(key)} belongs to no enabled principal of this ledger"
            )
        req = state.request
        if who.name in state.approved_by:
            raise Conflict(
                f"{who.name} approved request {short(req.id)} already; nothing was recorded"
            )
        approval = approval_for(req, who.name, at)
        why = why_not(approval, req, d, state.from_)
        if why is not None:
            raise NotAllowed(f"{who.name} cannot decide request {short(req.id)}: {why}")
        ev = events.append(
            conn, "promotion.approval", req.id, who.name, at, {"approval": approval.to_json()}
        )
        after = state_of(conn, request_id, d, at)
        executed = None
        if after.status == "pending" and len(after.approved_by) >= after.need:
            executed = _execute(conn, after, at)
            after = state_of(conn, request_id, d, at)
    return Decided(after, approval, ev.seq, executed)


def _fingerprint(key: str) -> str:
    try:
        return signing.fingerprint(key)
    except ValueError:
        return repr(key[:24])


def short(request_id: str) -> str:
    return request_id[:15]


def _execute(conn: Connection, state: RequestState, at: str) -> Executed:
    """Move the environment as the request asks: the promotion event carries the request and
    every approval that counted, signatures included, so it verifies without anything else."""
    req = state.request
    check_unmoved(conn, req.env, req.previous, req.policy_sha256)
    policy = _policy(conn, req)
    counted = [
        a for a in state.approvals if a.decision == "approve" and a.principal in state.approved_by
    ]
    first: dict[str, Approval] = {}
    for a in counted:
        first.setdefault(a.principal, a)
    rows = approval_rows(policy, list(state.approved_by), req.requester, req.registrant)
    gate = {**req.gate, "criteria": [*req.gate["criteria"], *(c.to_json() for c in rows)]}
    payload = {
        "env": req.env,
        "version": req.version,
        "label": req.label,
        "previous": req.previous,
        "approvers": list(state.approved_by),
        "requester": req.requester,
        "reason": req.reason,
        "at": at,
        "policy_sha256": req.policy_sha256,
        "gate": gate,
        "request": req.id,
        "approvals": [a.to_json() for a in first.values()],
    }
    planned = PlannedMove(
        env=req.env,
        subject_id=req.version,
        previous_id=req.previous,
        action="promote" if req.action == "promote" else "override",
        at=at,
        requester=req.requester,
        approvers=state.approved_by,
        reason=req.reason,
        policy_sha256=req.policy_sha256,
        event_seq=events.next_seq(conn),
    )
    move = environments.record_move(conn, planned)
    kind = "promotion" if req.action == "promote" else "promotion.override"
    ev = events.append(conn, kind, req.env, req.requester, at, payload)
    return Executed(move, ev.seq, payload)
