"""Quality drift: accuracy from feedback for one version, over time and per protected slice,
against the bars the gate (or the drift policy) sets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelledger.core.clock import format_time, parse_time
from modelledger.core.stats import label_matches
from modelledger.drift.judge import Floor, QualityPoint, Signal, quality_signal, undefined_slice
from modelledger.drift.policy import DriftPolicy, bucket_width, slice_rule
from modelledger.drift.profile import category_token
from modelledger.predictions.store.judged import JudgedRow
from modelledger.releases.gate import GatePolicy


@dataclass(frozen=True)
class Judged:
    request_ids: list[str]
    served_at: list[str]
    correct: list[int]
    clusters: list[str | None]


def judged_from(rows: Sequence[JudgedRow]) -> Judged:
    out = Judged([], [], [], [])
    for request_id, served_at, cluster, label_json, output_json, correct in rows:
        if label_json is not None and output_json is not None:
            correct = int(label_matches(label_json, output_json))
        out.request_ids.append(request_id)
        out.served_at.append(served_at)
        out.correct.append(int(correct))
        out.clusters.append(cluster)
    return out


def _floor(gate: GatePolicy, policy: DriftPolicy) -> Floor:
    if policy.quality.min is not None:
        return Floor(policy.quality.min, "drift policy quality.min")
    for rule in gate.metrics:
        if rule.name == "accuracy" and rule.min is not None:
            return Floor(rule.min, "gate policy accuracy min")
    return Floor(None, "neither the gate policy nor the drift policy sets an accuracy floor")


def _slice_bar(gate: GatePolicy, policy: DriftPolicy, floor: Floor) -> Floor:
    ps = gate.protected_slices
    if ps is not None and ps.min is not None:
        return Floor(ps.min, "gate policy protected_slices.min")
    if policy.slice_min is not None:
        return Floor(policy.slice_min, "drift policy slice_min")
    return floor


def _series(judged: Judged, since: str, until: str, policy: DriftPolicy) -> list[QualityPoint]:
    start, end = parse_time(since), parse_time(until)
    width = bucket_width(policy, end - start)
    buckets = int((end - start) / width) + 1
    n = [0] * buckets
    ok = [0] * buckets
    for at, correct in zip(judged.served_at, judged.correct, strict=True):
        i = min(int((parse_time(at) - start) / width), buckets - 1)
        n[i] += 1
        ok[i] += correct
    return [
        QualityPoint(format_time(start + i * width), n[i], ok[i]) for i in range(buckets) if n[i]
    ]


def quality_signals(
    con: Any,
    version_id: str,
    judged: Judged,
    *,
    gate: GatePolicy,
    policy: DriftPolicy,
    since: str,
    until: str,
    present: dict[str, str],
) -> list[Signal]:
    """The version's quality signal over the window and one per protected slice; ``present``
    names the logged features (a slice on a feature not logged is insufficient)."""
    floor = _floor(gate, policy)
    signals = [
        quality_signal(
            "quality", "accuracy", len(judged.correct), sum(judged.correct), floor, policy,
            series=_series(judged, since, until, policy),
        )
    ]  # fmt: skip
    names = list(gate.protected_slices.names) if gate.protected_slices else []
    names += [n for n in policy.slices if n not in names]
    if not names:
        return signals
    bar = _slice_bar(gate, policy, floor)
    rules = {n: slice_rule(policy, n) for n in names}
    features = sorted({f for r in rules.values() if r for f in r if f in present})
    rows = _slice_rows(con, version_id, judged, features)
    for name, rule in rules.items():
        if rule is None:
            signals.append(undefined_slice(name))
            continue
        missing = [f for f in rule if f not in present]
        if missing:
            signals.append(
                Signal("slice", name, "insufficient",
                       f"slice {name}: feature {missing[0]!r} is not in the logged features")
            )  # fmt: skip
            continue
        wanted = [
            (features.index(f) + 1, {category_token(v) for v in vs}) for f, vs in rule.items()
        ]
        n = correct = 0
        for row in rows:
            if all(category_token(row[i]) in allowed for i, allowed in wanted):
                n += 1
                correct += row[0]
        signals.append(
            quality_signal(
                "slice", name, n, correct, bar, policy,
                definition={f: list(vs) for f, vs in rule.items()},
            )
        )  # fmt: skip
    return signals


def _slice_rows(
    con: Any, version_id: str, judged: Judged, features: list[str]
) -> list[tuple[Any, ...]]:
    from modelledger.drift.features import join_keys

    return join_keys(con, view_name(version_id), judged.request_ids, judged.correct, features)


def view_name(version_id: str) -> str:
    return "v_" + version_id.replace("-", "_")
