"""Rollback: flip an environment back to a known-good version, only if that version passes the
rehearsal checks now (bytes, lock, contract; a load proven by an earlier rehearsal or run now)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelledger.core.errors import Conflict, InvalidInput
from modelledger.ledger import events
from modelledger.ledger.home import Ledger, now
from modelledger.models.deployables import Deployable
from modelledger.releases import store as environments
from modelledger.releases.environment import Move, PlannedMove
from modelledger.releases.environments import check_unmoved
from modelledger.releases.rehearse import Check, RehearsalFailed, failures, plan, target_checks
from modelledger.releases.signer import signer_for, signer_or_names

SIGNED_FOR = 300  # seconds a drafted rollback may wait for its approver's signature


@dataclass(frozen=True)
class Rollback:
    move: Move
    target: Deployable
    previous: Deployable
    checks: list[Check]
    event_seq: int

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.move.env,
            "id": self.target.id,
            "label": self.target.label,
            "previous": self.previous.id,
            "previous_label": self.previous.label,
            "approvers": list(self.move.approvers),
            "requester": self.move.requester,
            "reason": self.move.reason,
            "at": self.move.at,
            "event": self.event_seq,
            "checks": [c.to_json() for c in self.checks],
        }


def rollback(
    ledger: Ledger,
    env: str,
    approvers: Sequence[str],
    reason: str,
    to: str | None = None,
    key: Any = None,
    signed_as: dict[str, Any] | None = None,
) -> Rollback:
    """Once the ledger has identities, a rollback is signed by ``key``, an approver's for
    ``env`` (or an admin's), who is then the one approver recorded; ``approvers`` (typed names)
    are refused. Before, typed names are what there is.

    ``signed_as``: the statement an approver signed elsewhere (the registry server drafted it
    on an earlier call, when its stand-in key asked for a signature): its time and checks are
    taken for this rollback's, once seen to be fresh, made since the environment last moved,
    and the same verdicts the checks give now. Everything else is derived again here, so the
    signature verifies only if the rollback is the one that was signed."""
    names = [a.strip() for a in approvers if a and a.strip()]
    with ledger.db.read() as conn:
        signer, names = signer_or_names(conn, "rollback", env, key, names)
    if not names:
        raise InvalidInput("rollback needs --approver NAME: the person who approved it")
    if not (reason and reason.strip()):
        raise InvalidInput('rollback needs --reason "…": why production is being rolled back')
    with ledger.db.read() as conn:
        p = plan(conn, env, to)
    assert p.target is not None
    checks = target_checks(ledger, p, reuse=p.rehearsed_loads)
    bad = failures(checks)
    if bad:
        why = "; ".join(f"{c.name}: {c.detail}" for c in bad)
        raise RehearsalFailed(
            f"rollback of {env} to {p.target.label} refused: the target fails rehearsal ({why}); "
            "nothing was changed",
            checks,
        )
    with ledger.db.write() as conn:
        check_unmoved(conn, env, p.current.id, None)
        at, shown = now(), [c.to_json() for c in checks]
        if signed_as is not None:
            at, shown = _as_signed(conn, env, signed_as, shown, at)
        payload: dict[str, Any] = {
            "env": env,
            "version": p.target.id,
            "label": p.target.label,
            "previous": p.current.id,
            "approvers": names,
            "requester": ledger.user,
            "reason": reason,
            "at": at,
            "checks": shown,
        }
        user = ledger.user
        if signer is not None:
            signer = signer_for(conn, "rollback", env, key)  # again, under the write lock
            assert signer is not None
            user, names = signer.name, [signer.name]
            payload = signer.seal("rollback", {**payload, "approvers": names, "requester": user})
        planned = PlannedMove(
            env=env,
            subject_id=p.target.id,
            previous_id=p.current.id,
            action="rollback",
            at=at,
            requester=user,
            approvers=tuple(names),
            reason=reason,
            policy_sha256=None,
            event_seq=events.next_seq(conn),
        )
        move = environments.record_move(conn, planned)
        event = events.append(conn, "rollback", env, user, at, payload)
    return Rollback(move, p.target, p.current, checks, event.seq)


def _as_signed(
    conn: Any, env: str, signed: dict[str, Any], checks: list[dict[str, Any]], at: str
) -> tuple[str, list[dict[str, Any]]]:
    """The signed statement's time and checks, if they may stand for this rollback's."""
    from modelledger.core.clock import parse_time

    def verdicts(found: Any) -> list[tuple[Any, ...]]:
        keys = ("role", "id", "check", "status")
        return [tuple(c.get(k) for k in keys) for c in found if isinstance(c, dict)]

    try:
        when = parse_time(str(signed.get("at")))
    except (TypeError, ValueError):
        raise InvalidInput("the signed rollback's 'at' is not a time") from None
    age = (parse_time(at) - when).total_seconds()
    state = environments.get(conn, env)
    since = parse_time(state.since) if state is not None and state.since else None
    if not -5 <= age <= SIGNED_FOR or (since is not None and when < since):
        raise Conflict(
            f"the rollback of {env} was signed at {signed.get('at')}: too long ago, or before "
            f"{env} last moved; nothing was changed — run it again"
        )
    found = signed.get("checks")
    if not isinstance(found, list) or verdicts(found) != verdicts(checks):
        raise Conflict(
            f"the target's checks give other verdicts now than when the rollback of {env} was "
            "signed; nothing was changed — run it again"
        )
    return str(signed["at"]), found
