"""``incident assess``: ASSESS. The bad version's inference log with its feedback, its failures
placed by protected slice, by the categories and reference bins of drifted inputs and by failure
cluster, ranked by excess failures (``drift explain`` does the placing)."""

from __future__ import annotations

from typing import Any

from modelledger.drift.explain import explain
from modelledger.drift.policy import DriftPolicy
from modelledger.incidents import store
from modelledger.incidents.incident import require_step
from modelledger.ledger.home import Ledger, now


def assess(
    ledger: Ledger,
    ref: str,
    *,
    window: str = "7d",
    policy: DriftPolicy | None = None,
    top: int = 10,
) -> dict[str, Any]:
    with ledger.db.read() as conn:
        incident = store.load(conn, ref)
    require_step(incident, "assessed")
    found = explain(
        ledger, incident.env, version=incident.version_id, window=window, policy=policy, top=top
    )
    keep = ("judged", "failures", "failure_rate", "places", "clusters", "window", "message")
    payload: dict[str, Any] = {
        "env": incident.env,
        "version_id": incident.version_id,
        "label": found["label"],
        "drifted_features": found.get("drifted_features", []),
        **{k: found[k] for k in keep if k in found},
    }
    if policy is not None:
        payload["drift_policy"] = policy.summary()["sha256"]
    with ledger.db.write() as conn:
        require_step(store.load(conn, incident.id), "assessed")
        at = now()
        seq = store.record(conn, incident.id, "assessed", ledger.user, at, payload)
    return {"incident": incident.id, "event": seq, "at": at, **payload}
