"""``drift explain``: where a version's failures concentrate (incident runbook, step 3 ASSESS).

Every prediction with feedback is placed in cells: each protected slice it belongs to, each
category of a categorical feature that drifted, each reference bin of a numeric one that did.
A cell is ranked by its *excess* failures, failures minus what the version's overall failure
rate predicts for that many predictions: a cell of 40 failures among 50 ranks above one of 400
among 4,000 when the overall rate is 10%, because fixing it explains more than its size.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from modelledger.drift.check import check, window_of
from modelledger.drift.policy import DriftPolicy, slice_rule
from modelledger.drift.profile import category_token
from modelledger.drift.profiles import latest_profile
from modelledger.drift.quality import judged_from, view_name
from modelledger.drift.store import reads as drift_reads
from modelledger.drift.traffic import overlapping_segments, served_traffic
from modelledger.ledger.home import Ledger
from modelledger.models.resolve import resolve_version
from modelledger.models.store import versions
from modelledger.predictions.store.judged import judged_predictions
from modelledger.predictions.store.window import log_window
from modelledger.releases.environments import require_env
from modelledger.releases.gatekeeper import env_policy

MIN_CELL = 5  # a cell smaller than this says more about chance than about the model


def explain(
    ledger: Ledger,
    env: str,
    *,
    version: str,
    window: str = "7d",
    policy: DriftPolicy | None = None,
    top: int = 10,
) -> dict[str, Any]:
    policy = policy or DriftPolicy()
    span = window_of(window)
    with ledger.db.read() as conn:
        gate, _ = env_policy(conn, require_env(conn, env))
        vid = resolve_version(conn, version)
        found = versions.get(conn, vid)
        label = found.label if found else vid
        log = log_window(conn, env, span.since, span.until)
        served = {r["version_id"]: int(r["n"]) for r in drift_reads.served_versions(conn, log)}
        judged = judged_from(judged_predictions(conn, log, vid, served.get(vid, 0)))
        segments = overlapping_segments(conn, env, span.since, span.until)
    failures = len(judged.correct) - sum(judged.correct)
    out: dict[str, Any] = {
        "env": env,
        "version_id": vid,
        "label": label,
        "window": {"since": span.since, "until": span.until, "text": span.text},
        "judged": len(judged.correct),
        "failures": failures,
        "failure_rate": failures / len(judged.correct) if judged.correct else 0.0,
        "places": [],
        "clusters": [],
    }
    if not failures:
        out["message"] = (
            "no failures with feedback in the window"
            if judged.correct
            else f"no feedback for {label} in the window: import some with `mledger feedback import`"
        )
        return out
    # failures that feedback left without a cluster are not a cluster of their own
    clusters = Counter(
        c for c, ok in zip(judged.clusters, judged.correct, strict=True) if not ok and c
    )
    out["clusters"] = [{"cluster": c, "failures": n} for c, n in clusters.most_common()]

    drift = check(ledger, env, window=window, until=span.until, version=vid, policy=policy)
    drifted = [
        s.name for v in drift.versions for s in v.signals
        if s.kind == "input" and s.status in ("warn", "alert")
    ]  # fmt: skip
    stored = latest_profile(ledger, vid)
    profile = stored[1] if stored else None
    names = list(gate.protected_slices.names) if gate.protected_slices else []
    names += [n for n in policy.slices if n not in names]
    rules = {n: r for n in names if (r := slice_rule(policy, n)) is not None}

    from modelledger.drift.features import columns_of, join_keys, version_view

    with served_traffic(ledger, segments, span.since, span.until) as con:
        version_view(con, view_name(vid), "served", vid)
        present = columns_of(con, view_name(vid))
        features = sorted(
            {f for r in rules.values() for f in r if f in present}
            | {f for f in drifted if f in present}
        )
        rows = join_keys(con, view_name(vid), judged.request_ids, judged.correct, features)

    cells: dict[str, list[int]] = {}  # where → [n, failures]

    def count(where: str, ok: int) -> None:
        cell = cells.setdefault(where, [0, 0])
        cell[0] += 1
        cell[1] += 1 - ok

    column = {f: i + 1 for i, f in enumerate(features)}
    allowed = {
        n: [(column[f], {category_token(v) for v in vs}) for f, vs in r.items() if f in column]
        for n, r in rules.items()
        if all(f in column for f in r)
    }
    numeric = {
        f: (np.asarray(p.edges), p.bin_labels())
        for f in drifted
        if profile is not None and (p := profile.features.get(f)) is not None
        and p.kind == "numeric" and f in column
    }  # fmt: skip
    for row in rows:
        ok = int(row[0])
        for name, tests in allowed.items():
            if all(category_token(row[i]) in values for i, values in tests):
                count(f"slice {name}", ok)
        for f in drifted:
            if f not in column:
                continue
            value = row[column[f]]
            if value is None:
                count(f"{f} is null", ok)
            elif f in numeric:
                edges, bin_labels = numeric[f]
                try:
                    position = int(np.searchsorted(edges, float(value), side="left"))
                except (TypeError, ValueError):
                    count(f"{f} not a number", ok)
                    continue
                count(f"{f} {bin_labels[position]}", ok)
            else:
                count(f"{f} = {category_token(value)}", ok)

    rate = out["failure_rate"]
    places = []
    for where, (n, bad) in cells.items():
        if n < MIN_CELL or not bad:
            continue
        places.append(
            {
                "where": where,
                "n": n,
                "failures": bad,
                "rate": bad / n,
                "lift": (bad / n) / rate if rate else 0.0,
                "excess": bad - n * rate,
                "share": bad / failures,
            }
        )
    places.sort(key=lambda p: (-p["excess"], -p["failures"], p["where"]))
    out["places"] = places[:top]
    out["drifted_features"] = drifted
    return out
