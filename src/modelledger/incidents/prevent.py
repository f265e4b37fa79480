"""``incident prevent``: PREVENT. The assessed failure cluster becomes a permanent regression
case: a new version of the gate's eval set holding the case (``regressions/NAME.json``, derived
from the old version in the lineage), a gate policy that scores on it and requires slice NAME,
and a known limitation on the bad version's model card. The incident closes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from modelledger.core.canonical import canonical_json
from modelledger.core.errors import InvalidInput
from modelledger.incidents import store
from modelledger.incidents.incident import Incident, require_step
from modelledger.incidents.regression import (
    amended_card,
    case_document,
    case_path,
    choose_place,
    limitation,
    metric_and_floor,
    slice_name,
    with_regression_slice,
)
from modelledger.ledger import cards
from modelledger.ledger.home import Ledger, now
from modelledger.models import deployables
from modelledger.releases.environments import get_policy, set_policy
from modelledger.releases.signer import signer_for


def _new_eval_set(
    ledger: Ledger, incident: Incident, old: str, case: dict[str, Any], name: str
) -> dict[str, Any]:
    """The old eval set's files plus the case, snapshotted as the next version of that eval set."""
    from modelledger.data.checkout import checkout
    from modelledger.data.snapshot import SnapshotRequest, get_snapshot, snapshot
    from modelledger.evals.evaluate import mark_eval_set

    base = get_snapshot(ledger, old)
    with tempfile.TemporaryDirectory(prefix="mledger-regression-") as tmp:
        folder = Path(tmp) / "eval"
        checkout(ledger, old, folder)
        target = folder / case_path(name)
        if target.exists():
            raise InvalidInput(f"the eval set {base.name} already holds {case_path(name)}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(canonical_json(case) + b"\n")
        step = f"incident {incident.id}: regression case {name}"
        made = snapshot(ledger, SnapshotRequest([folder], base.name, inputs=[old], step=step))
    mark_eval_set(ledger, made.snapshot, base.name)
    return {"name": base.name, "from": old, "to": made.snapshot.id, "case": case_path(name)}


def _set_gate(ledger: Ledger, env: str, policy: dict[str, Any], key: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mledger-regression-") as tmp:
        path = Path(tmp) / "policy.json"
        path.write_bytes(canonical_json(policy))
        return set_policy(ledger, env, path, key)


def prevent(
    ledger: Ledger,
    ref: str,
    *,
    place: int = 1,
    name: str | None = None,
    metric: str | None = None,
    floor: float | None = None,
    text: str | None = None,
    key: Any = None,
) -> dict[str, Any]:
    with ledger.db.read() as conn:
        incident = store.load(conn, ref)
        require_step(incident, "prevented")
        card = cards.latest(conn, "model", incident.version_id)
        # the policy is signed by an admin: checked before the new eval set is written
        signer_for(conn, "env.policy", incident.env, key)
        label = deployables.labels(conn, [incident.version_id]).get(incident.version_id)
    assessed = incident.latest("assessed")
    assert assessed is not None  # the runbook's order: prevention comes after assessment
    where = choose_place(assessed.payload, place)
    slice_ = slice_name(name, incident.id)
    gate = get_policy(ledger, incident.env)
    old = gate["policy"].get("eval_set")
    if old is None:
        raise InvalidInput(
            f"the {incident.env} gate scores on no eval set, so a regression case has nowhere "
            f"to live: set eval_set in its policy (`mledger env policy {incident.env} FILE`)"
        )
    metric, floor = metric_and_floor(gate["policy"], metric, floor)
    version = {"id": incident.version_id, "label": label or incident.version_id}
    case = case_document(incident.id, incident.env, version, where, slice_)
    eval_set = _new_eval_set(ledger, incident, old, case, slice_)
    wanted = with_regression_slice(gate["policy"], eval_set["to"], slice_, metric, floor)
    policy = _set_gate(ledger, incident.env, wanted, key)
    known = limitation(incident.id, incident.env, where, text)
    from modelledger.models.reads import amend_card

    _, revision = amend_card(
        ledger, incident.version_id, amended_card(card[1] if card else None, known)
    )
    payload = {
        "where": where["where"],
        "place": where,
        "slice": slice_,
        "metric": metric,
        "min": floor,
        "eval_set": eval_set,
        "policy": {
            "from": gate["policy_sha256"],
            "to": policy["policy_sha256"],
            "revision": policy.get("revision"),
        },
        "card": {"id": incident.version_id, "label": version["label"], "revision": revision},
        "limitation": known,
    }
    with ledger.db.write() as conn:
        require_step(store.load(conn, incident.id), "prevented")
        at = now()
        seq = store.record(conn, incident.id, "prevented", ledger.user, at, payload)
    return {"incident": incident.id, "event": seq, "at": at, **payload}
