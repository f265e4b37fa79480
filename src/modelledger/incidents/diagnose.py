"""``incident diagnose --cause data|drift|forgetting|scope``: DIAGNOSE, with the evidence that
supports the cause read from the ledger at the time. A cause the ledger shows nothing for is
refused rather than recorded: a diagnosis without evidence is a guess dressed as a fact."""

from __future__ import annotations

from typing import Any

from modelledger.core.errors import CheckFailed, InvalidInput
from modelledger.drift.check import check
from modelledger.drift.policy import DriftPolicy
from modelledger.incidents import store
from modelledger.incidents.incident import CAUSES, Incident, require_step
from modelledger.ledger import cards
from modelledger.ledger.home import Ledger, now
from modelledger.models import deployables
from modelledger.models.resolve import resolve_subject
from modelledger.models.version import TRAINING_ROLES
from modelledger.releases.gatekeeper import check as gate_check

_FINDINGS = 10  # the strongest findings of a diff are the evidence; the rest is one command away


class _Unsupported(Exception):
    """The ledger holds no evidence for the cause."""


def _training(conn: Any, subject_id: str) -> dict[str, str]:
    """role → snapshot id of the data the subject learnt from (its first model's, for a system)."""
    d = deployables.load(conn, subject_id)
    refs = d.models[0].tuple.data if d.models else ()
    return {r.role: r.snapshot_id for r in refs if r.role in TRAINING_ROLES}


def _data(ledger: Ledger, incident: Incident, against: str) -> dict[str, Any]:
    from modelledger.data.diff import diff

    with ledger.db.read() as conn:
        bad, good = _training(conn, incident.version_id), _training(conn, against)
    if not bad or not good:
        who = "the bad version" if not bad else "the version it is compared with"
        raise _Unsupported(f"{who} pins no training snapshot, so there is no data to diff")
    diffs = []
    for role in sorted(bad.keys() & good.keys()):
        found = diff(ledger, good[role], bad[role])
        files = found["files"]
        diffs.append(
            {
                "role": role,
                "a": good[role],
                "b": bad[role],
                "identical": found["identical"],
                "files": {k: len(v) for k, v in files.items() if isinstance(v, list)},
                "findings": found["findings"][:_FINDINGS],
            }
        )
    changed = [d for d in diffs if not d["identical"]]
    if not changed:
        raise _Unsupported("the training snapshots are the same as the good version's")
    kinds = sorted({f["kind"] for d in changed for f in d["findings"]})
    summary = f"training data differs ({', '.join(d['role'] for d in changed)})"
    return {
        "against": against,
        "diffs": diffs,
        "summary": summary + (f": {', '.join(kinds)}" if kinds else ""),
    }


def _drift(
    ledger: Ledger, incident: Incident, window: str, policy: DriftPolicy | None
) -> dict[str, Any]:
    found = check(ledger, incident.env, window=window, version=incident.version_id, policy=policy)
    signals = [
        s.to_json() | {"version_id": v.version_id}
        for v in found.versions
        for s in v.signals
        if s.status in ("warn", "alert")
    ]
    for s in signals:
        s.pop("histogram", None)
        s.get("details", {}).pop("series", None)
    if not signals:
        raise _Unsupported(f"drift check over {window} finds no warning or alert for the version")
    names = ", ".join(f"{s['kind']} {s['name']}" for s in signals[:5])
    return {
        "window": {"since": found.since, "until": found.until, "text": window},
        "policy": found.policy.summary()["sha256"],
        "signals": signals,
        "alert_event": incident.opened.payload.get("alert_event"),
        "summary": f"{len(signals)} drifting signal(s): {names}",
    }


def _forgetting(ledger: Ledger, incident: Incident) -> dict[str, Any]:
    decision = gate_check(ledger, incident.version_id, incident.env)
    failed = [c.to_json() for c in decision.report.failures()]
    if not failed:
        raise _Unsupported(
            f"the {incident.env} gate finds no regression of the version against what is live "
            f"({decision.live_label or 'nothing'})"
        )
    return {
        "against": decision.live_id,
        "policy_sha256": decision.policy_sha256,
        "regressions": failed,
        "summary": "gate regression: " + ", ".join(c["name"] for c in failed[:5]),
    }


def _scope(ledger: Ledger, incident: Incident) -> dict[str, Any]:
    with ledger.db.read() as conn:
        card = cards.latest(conn, "model", incident.version_id)
    uses = list(card[1].get("out_of_scope") or []) if card else []
    if not uses:
        raise _Unsupported("the version's model card names no out-of-scope uses")
    assessed = incident.latest("assessed")
    places = [p["where"] for p in (assessed.payload.get("places") or [])[:5]] if assessed else []
    return {
        "card_revision": card[0] if card else None,
        "out_of_scope": uses,
        "failures_at": places,
        "summary": f"out of scope per its card: {'; '.join(uses)}",
    }


def diagnose(
    ledger: Ledger,
    ref: str,
    cause: str,
    *,
    note: str | None = None,
    against: str | None = None,
    window: str = "7d",
    policy: DriftPolicy | None = None,
) -> dict[str, Any]:
    if cause not in CAUSES:
        raise InvalidInput(f"--cause {cause!r}: one of {', '.join(CAUSES)}")
    with ledger.db.read() as conn:
        incident = store.load(conn, ref)
        require_step(incident, "diagnosed")
        contained = incident.latest("contained")
        good = resolve_subject(conn, against) if against else None
    if good is None and contained is not None:
        good = str(contained.payload["to"])
    try:
        if cause == "data":
            assert good is not None
            evidence = _data(ledger, incident, good)
        elif cause == "drift":
            evidence = _drift(ledger, incident, window, policy)
        elif cause == "forgetting":
            evidence = _forgetting(ledger, incident)
        else:
            evidence = _scope(ledger, incident)
    except _Unsupported as exc:
        raise CheckFailed(f"cause {cause} of {incident.id} not recorded: {exc}") from None
    payload = {"cause": cause, "note": note, "evidence": evidence}
    with ledger.db.write() as conn:
        require_step(store.load(conn, incident.id), "diagnosed")
        at = now()
        seq = store.record(conn, incident.id, "diagnosed", ledger.user, at, payload)
    return {"incident": incident.id, "event": seq, "at": at, **payload}
