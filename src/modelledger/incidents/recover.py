"""``incident recover``: RECOVER. The retrained candidate must pass the environment's full
evidence gate against what is live (the contained version); it then shadows the live version,
and a second call with ``--canary PCT`` gives it that share of traffic. Going fully live is a
promotion (``mledger promote``), approved as any other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelledger.core.errors import CheckFailed, InvalidInput
from modelledger.incidents import store
from modelledger.incidents.incident import require_step
from modelledger.ledger.home import Ledger, now
from modelledger.models.resolve import resolve_subject
from modelledger.releases.gatekeeper import check as gate_check
from modelledger.releases.gatekeeper import decision_json
from modelledger.serving.routing import set_route


def recover(
    ledger: Ledger,
    ref: str,
    candidate: str,
    *,
    canary: float | None = None,
    approvers: Sequence[str] = (),
    key: Any = None,
) -> dict[str, Any]:
    with ledger.db.read() as conn:
        incident = store.load(conn, ref)
        require_step(incident, "recovered")
        cand = resolve_subject(conn, candidate)
    if cand == incident.version_id:
        raise InvalidInput(f"{candidate} is the version {incident.id} is about, not a retrain")
    stage = "shadow" if canary is None else "canary"
    if canary is not None:
        shadowed = [
            e for e in incident.entries
            if e.step == "recovered" and e.payload["stage"] == "shadow" and e.payload["id"] == cand
        ]  # fmt: skip
        if not shadowed:
            raise InvalidInput(
                f"{candidate} has not shadowed in {incident.env} for {incident.id}: run "
                f"`mledger incident recover {incident.id} {candidate}` before its canary"
            )
        if not 0 < canary < 100:
            raise InvalidInput(f"--canary {canary:g}: a share above 0 and below 100")
    decision = gate_check(ledger, cand, incident.env)
    gate = decision_json(decision)
    if not decision.report.passed:
        why = "; ".join(f"{c.name}: {c.detail}" for c in decision.report.failures())
        raise CheckFailed(
            f"{decision.candidate.label} fails the {incident.env} gate ({why}); nothing was changed"
        )
    live = decision.live_id
    assert live is not None  # contained: something is live
    why = f"incident {incident.id}: {stage} of {decision.candidate.label}"
    if canary is None:
        route = set_route(
            ledger, incident.env, [f"{live}=100"], approvers, [cand], reason=why, key=key
        )
    else:
        arms = [f"{live}={100 - canary:g}", f"{cand}={canary:g}"]
        route = set_route(ledger, incident.env, arms, approvers, reason=why, key=key)
    payload = {
        "stage": stage,
        "id": cand,
        "label": decision.candidate.label,
        "percent": canary,
        "live": live,
        "gate": gate,
        "route_event": route.get("event"),
        "route_revision": route.get("revision"),
    }
    with ledger.db.write() as conn:
        require_step(store.load(conn, incident.id), "recovered")
        at = now()
        seq = store.record(conn, incident.id, "recovered", ledger.user, at, payload)
    return {"incident": incident.id, "event": seq, "at": at, **payload}
