"""Promotion over the API: requests drafted by the server and signed by their requester's own
key, approvals and rejections signed by the approver's, and moves that need no approval.

A request's signature covers what it decides, including when it was made, so the server drafts
it (``draft``: the gate run now, nothing written), the client checks and signs it
(``releases.signatures``), and ``open_signed`` records it after running the gate again and finding
the same evidence against the same live version and policy: a draft is good while nothing it
names has changed, and for ``MAX_SKEW`` after it was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelledger.core.canonical import digest
from modelledger.core.clock import parse_time
from modelledger.core.errors import CheckFailed, Conflict, InvalidInput, NotAllowed
from modelledger.core.stats import parse_duration
from modelledger.identity import signing
from modelledger.identity import store as identities
from modelledger.ledger import events
from modelledger.ledger.home import Ledger, now
from modelledger.models.reads import verify
from modelledger.releases import workflow
from modelledger.releases.environments import check_unmoved
from modelledger.releases.gatekeeper import GateDecision, decide
from modelledger.releases.promote import GateFailed, Promotion, promote
from modelledger.releases.requests import Request
from modelledger.releases.workflow import MAX_SKEW, RequestState

LONGEST = "30d"  # a request's longest life


class NoApprovalNeeded(Conflict):
    """A draft for an environment whose policy asks for no approval; its answer names the
    route that moves it (``next``), so a client goes there without reading the message."""

    next = "/promotions"


@dataclass(frozen=True)
class Draft:
    request: Request
    decision: GateDecision

    def to_json(self) -> dict[str, Any]:
        return {"request": self.request.payload(), "sign": self.request.body()}


def draft(
    view: Ledger,
    ref: str,
    env: str,
    reason: str | None = None,
    override: bool = False,
    expires: str = workflow.DEFAULT_EXPIRY,
) -> Draft:
    """The request ``view.user`` would open to move ``env`` to ``ref``, gate run, unsigned and
    unrecorded; Conflict when the policy needs no approval (``move`` does that)."""
    if override and not (reason and reason.strip()):
        raise InvalidInput("an override needs a reason saying why the gate is being overridden")
    if parse_duration(expires, "expires") > parse_duration(LONGEST, "expires"):
        raise InvalidInput(f"expires {expires!r}: a request lives at most {LONGEST}")
    with view.db.read() as conn:
        decision = decide(conn, env, ref)
        ledger_name = identities.ledger_name(conn)
    if decision.live_id == decision.candidate.id:
        raise InvalidInput(f"{decision.candidate.label} is already live in {env}")
    if decision.policy.approvals_needed == 0:
        raise NoApprovalNeeded(
            f"{env}'s policy needs no approval: POST /api/v1/promotions moves it"
        )
    action = "promote"
    if not decision.report.passed:
        if not override:
            raise GateFailed(decision)
        if not decision.policy.allow_override:
            raise InvalidInput(f"{env}'s gate policy does not allow overrides")
        action = "override"
    at = now()
    request = Request(
        env=decision.env,
        version=decision.candidate.id,
        label=decision.candidate.label,
        previous=decision.live_id,
        action=action,
        reason=reason,
        policy_sha256=decision.policy_sha256,
        gate=decision.report.to_json(),
        requester=view.user,
        registrant=decision.candidate.registered_by,
        requested_at=at,
        expires_at=workflow.expiry(at, expires),
        ledger=ledger_name,
    )
    return Draft(request, decision)


def open_signed(view: Ledger, shown: dict[str, Any], signed: dict[str, str]) -> RequestState:
    """Record the drafted request ``shown``, signed by its requester (``view.user``)."""
    try:
        req = Request.from_payload(shown)
    except (KeyError, TypeError) as exc:
        raise InvalidInput(f"request: not a drafted request (missing {exc})") from None
    if shown.get("id") not in (None, req.id):
        raise InvalidInput("request: its id is not the hash of its contents")
    if req.requester != view.user:
        raise NotAllowed(f"the request names {req.requester} as its requester; {view.user} asks")
    key, sig = str(signed.get("key", "")), str(signed.get("sig", ""))
    if not signing.signature_ok(key, req.body(), sig):
        raise NotAllowed("the request's signature does not verify for this request")
    with view.db.read() as conn:
        who = identities.directory(conn).signer(key)
    if who is None or who.name != view.user:
        raise NotAllowed(f"the request is signed with a key that is not one of {view.user}'s")
    at = now()
    skew = abs(parse_time(req.requested_at) - parse_time(at))
    if skew > MAX_SKEW:
        raise Conflict(f"the draft was made {skew} ago: draft it again and sign that")
    life = parse_time(req.expires_at) - parse_time(req.requested_at)
    if not (0 < life.total_seconds() <= parse_duration(LONGEST, "expires").total_seconds()):
        raise InvalidInput(f"request: expires_at must fall after requested_at, within {LONGEST}")
    again = draft(view, req.version, req.env, req.reason, req.action == "override")
    fresh = again.request
    same = (
        fresh.env, fresh.version, fresh.label, fresh.previous, fresh.action,
        fresh.policy_sha256, digest(fresh.gate), fresh.registrant, fresh.ledger,
    ) == (
        req.env, req.version, req.label, req.previous, req.action,
        req.policy_sha256, digest(req.gate), req.registrant, req.ledger,
    )  # fmt: skip
    if not same:
        raise Conflict(
            f"{req.env}, its policy or the evidence changed since the draft: draft it again"
        )
    for version in again.decision.candidate.models:
        report = verify(view, version.id)
        if not report.ok:
            raise CheckFailed(
                f"{version.label}'s artifact failed verification ({'; '.join(report.bad)})"
            )
    with view.db.write() as conn:
        check_unmoved(conn, req.env, req.previous, req.policy_sha256)
        if events.listing(conn, subject=req.id, kind="promotion.request", limit=1):
            raise Conflict(f"request {workflow.short(req.id)} was opened already")
        workflow.open_request(conn, req, None, signed={"key": key, "sig": sig})
        return workflow.state_of(conn, req.id, None, at)


def move(
    view: Ledger,
    ref: str,
    env: str,
    reason: str | None = None,
    override: bool = False,
    expect_live: str | None = None,
) -> Promotion:
    """Promote where ``env``'s policy needs no approval, as ``view.user``; Conflict otherwise."""
    with view.db.read() as conn:
        needed = decide(conn, env, ref).policy.approvals_needed
    if needed:
        raise Conflict(
            f"{env}'s policy needs {needed} approval{'s' if needed != 1 else ''}: draft a request "
            "(POST /api/v1/requests/draft), sign it, and open it (POST /api/v1/requests)"
        )
    done = promote(view, ref, env, reason, override, expect_live)
    assert isinstance(done, Promotion)
    return done
