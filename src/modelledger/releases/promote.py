"""Promotion: the gate runs, and only on a pass does the pointer move, with an event carrying the
whole decision (who asked, who approved, which policy, the gate report). When the policy asks for
approvals, a pass opens a promotion request instead (``workflow``), and the move happens when
the approvals are in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelledger.core.errors import CheckFailed, Conflict, InvalidInput
from modelledger.identity import store as identities
from modelledger.ledger import events
from modelledger.ledger.home import Ledger, now
from modelledger.releases import store as environments
from modelledger.releases import workflow
from modelledger.releases.environment import Move, PlannedMove
from modelledger.releases.environments import check_unmoved
from modelledger.releases.gate import GateReport
from modelledger.releases.gatekeeper import GateDecision, decide
from modelledger.releases.requests import Request
from modelledger.releases.workflow import DEFAULT_EXPIRY, RequestState


class GateFailed(CheckFailed):
    """The gate said no; nothing moved. Carries the report so it can be printed row by row."""

    def __init__(self, decision: GateDecision) -> None:
        self.decision = decision
        failed = "; ".join(f"{c.name}: {c.detail or 'failed'}" for c in decision.report.failures())
        super().__init__(f"gate refused {decision.candidate.label} for {decision.env}: {failed}")


@dataclass(frozen=True)
class Promotion:
    decision: GateDecision
    move: Move
    event_seq: int

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.move.env,
            "id": self.move.subject_id,
            "label": self.decision.candidate.label,
            "previous": self.move.previous_id,
            "action": self.move.action,
            "approvers": list(self.move.approvers),
            "requester": self.move.requester,
            "reason": self.move.reason,
            "at": self.move.at,
            "policy_sha256": self.move.policy_sha256,
            "event": self.event_seq,
            "gate": self.decision.report.to_json(),
            "request": None,  # moved at once: no request was needed (as an approved one's JSON)
        }


def _expected(ledger: Ledger, text: str) -> str | None:
    if text.strip().lower() == "none":
        return None
    from modelledger.models.resolve import resolve_subject

    with ledger.db.read() as conn:
        return resolve_subject(conn, text)


def _require_intact(ledger: Ledger, decision: GateDecision) -> None:
    """Never point an environment at bytes that no longer match their hash: the server would
    refuse them and keep serving the old version while the ledger says otherwise."""
    from modelledger.models.reads import freshen, verify

    for version in decision.candidate.models:
        freshen(ledger, version)  # about to be named by a move: gc's grace period covers it
        report = verify(ledger, version.id)
        if not report.ok:
            raise CheckFailed(
                f"{version.label}'s artifact failed verification ({'; '.join(report.bad)}); "
                "nothing was changed"
            )


def promote(
    ledger: Ledger,
    ref: str,
    env: str,
    reason: str | None = None,
    override: bool = False,
    expect_live: str | None = None,
    key: Any = None,
    expires: str = DEFAULT_EXPIRY,
) -> Promotion | RequestState:
    """Run the gate; on a pass move ``env`` to ``ref`` when the policy asks for no approval, else
    open a promotion request signed with ``key`` (the requester's), which approvers decide with
    ``workflow.decide_request``.

    ``expect_live`` (an id, or "none") makes the move conditional on what is live, like git's
    ``--force-with-lease``: of several concurrent promotions expecting the same state, one wins.
    """
    if override and not (reason and reason.strip()):
        raise InvalidInput("--override needs --reason saying why the gate is being overridden")
    with ledger.db.read() as conn:
        decision = decide(conn, env, ref)
        directory = identities.directory(conn)
    if decision.live_id == decision.candidate.id:
        raise InvalidInput(f"{decision.candidate.label} is already live in {env}")
    if expect_live is not None:
        expected = _expected(ledger, expect_live)
        if expected != decision.live_id:
            raise Conflict(
                f"{env} runs {decision.live_id or 'nothing'}, not the expected "
                f"{expected or 'nothing'}; nothing was changed"
            )
    report: GateReport = decision.report
    action = "promote"
    if not report.passed:
        if not override:
            raise GateFailed(decision)
        if not decision.policy.allow_override:
            raise InvalidInput(
                f"{env}'s gate policy does not allow overrides (allow_override: false); "
                "the gate's failures must be fixed"
            )
        action = "override"  # an override waives evidence, never the people
    needs_approval = decision.policy.approvals_needed > 0
    requester = ledger.user
    if needs_approval or (key is not None and not directory.empty):
        requester = workflow.requester_of(directory, key)
    _require_intact(ledger, decision)
    with ledger.db.write() as conn:
        check_unmoved(conn, env, decision.live_id, decision.policy_sha256)
        at = now()
        if needs_approval:
            request = Request(
                env=env,
                version=decision.candidate.id,
                label=decision.candidate.label,
                previous=decision.live_id,
                action=action,
                reason=reason,
                policy_sha256=decision.policy_sha256,
                gate=report.to_json(),
                requester=requester,
                registrant=decision.candidate.registered_by,
                requested_at=at,
                expires_at=workflow.expiry(at, expires),
                ledger=identities.ledger_name(conn),
            )
            workflow.open_request(conn, request, key)
            return workflow.state_of(conn, request.id, directory, at)
        payload: dict[str, Any] = {
            "env": env,
            "version": decision.candidate.id,
            "label": decision.candidate.label,
            "previous": decision.live_id,
            "approvers": [],
            "requester": requester,
            "reason": reason,
            "at": at,
            "policy_sha256": decision.policy_sha256,
            "gate": report.to_json(),
        }
        kind = "promotion" if action == "promote" else "promotion.override"
        planned = PlannedMove(
            env=env,
            subject_id=decision.candidate.id,
            previous_id=decision.live_id,
            action="promote" if action == "promote" else "override",
            at=at,
            requester=requester,
            approvers=(),
            reason=reason,
            policy_sha256=decision.policy_sha256,
            event_seq=events.next_seq(conn),
        )
        move = environments.record_move(conn, planned)
        event = events.append(conn, kind, env, requester, at, payload)
    return Promotion(decision, move, event.seq)
