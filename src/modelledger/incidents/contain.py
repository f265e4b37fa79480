"""``incident contain``: CONTAIN in one command. Rehearse the environment's rollback (the model
card's ``rollback_target``, else what was live before), and roll back when the target passes;
the bad version failing its own checks does not hold containment up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelledger.core.errors import CheckFailed, Conflict, InvalidInput
from modelledger.incidents import store
from modelledger.incidents.incident import require_step
from modelledger.ledger.home import Ledger, now
from modelledger.releases.environments import require_env
from modelledger.releases.rehearse import failures, rehearse
from modelledger.releases.rollback import rollback
from modelledger.releases.signer import signer_or_names


def contain(
    ledger: Ledger,
    ref: str,
    approvers: Sequence[str] = (),
    key: Any = None,
    reason: str | None = None,
) -> dict[str, Any]:
    with ledger.db.read() as conn:
        incident = store.load(conn, ref)
        live = require_env(conn, incident.env).current_id
        # who signs is checked before the rehearsal records anything
        _, names = signer_or_names(conn, "rollback", incident.env, key, list(approvers))
    if not names:
        raise InvalidInput("containment rolls back: give --approver NAME, who approved it")
    require_step(incident, "contained")
    env = incident.env
    if live != incident.version_id:
        raise Conflict(
            f"{env} no longer serves {incident.opened.payload.get('label')} (it serves "
            f"{live or 'nothing'}): nothing to contain; nothing was changed"
        )
    rehearsal = rehearse(ledger, env)
    bad = [c for c in failures(rehearsal.checks) if c.role == "target"]
    if bad:
        why = "; ".join(f"{c.name}: {c.detail}" for c in bad)
        raise CheckFailed(
            f"containment of {incident.id} refused: the rollback target fails rehearsal "
            f"#{rehearsal.event_seq} ({why}); nothing was moved"
        )
    why = reason or f"incident {incident.id}: {incident.opened.payload.get('reason') or 'alert'}"
    # the rollback reuses the load the rehearsal just proved, and checks bytes and contract again
    made = rollback(ledger, env, approvers, why, key=key)
    with ledger.db.write() as conn:
        require_step(store.load(conn, incident.id), "contained")
        at = now()
        payload = {
            "env": env,
            "from": made.previous.id,
            "from_label": made.previous.label,
            "to": made.target.id,
            "to_label": made.target.label,
            "rehearsal": rehearsal.event_seq,
            "rollback": made.event_seq,
            "approvers": list(made.move.approvers),
            "reason": why,
        }
        seq = store.record(conn, incident.id, "contained", ledger.user, at, payload)
    return {"incident": incident.id, "event": seq, "at": at, **payload}
