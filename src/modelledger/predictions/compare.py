"""``mledger predictions compare``: the arms of an environment side by side over a window of
its inference log — traffic, latency, confidence and, where feedback arrived, accuracy with a
95% interval — and a verdict that names a winner only when the data carry one (the rules are in
:mod:`modelledger.predictions.arm_stats`). The basis for promoting an A/B winner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelledger.core.clock import format_time
from modelledger.core.errors import InvalidInput
from modelledger.core.stats import label_matches, parse_since
from modelledger.ledger.home import Ledger
from modelledger.models.deployables import labels
from modelledger.predictions.arm_stats import (
    MIN_FEEDBACK,
    PERCENTILES,
    ArmSummary,
    Latency,
    Proportion,
    Verdict,
    arm_order,
    verdict,
)
from modelledger.predictions.store.arms import (
    ArmKey,
    arm_counts,
    arm_feedback,
    arm_latency_percentiles,
)
from modelledger.predictions.store.window import log_window
from modelledger.releases.environments import require_env

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True)
class Comparison:
    env: str
    since: str  # ledger time text; the window is since <= served_at < until
    until: str | None  # None: up to now and beyond (predictions logged with a later time count)
    arms: tuple[ArmSummary, ...]
    verdict: Verdict
    served: int
    shadow: int
    min_feedback: int

    @property
    def empty(self) -> bool:
        return not self.arms

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "since": self.since,
            "until": self.until,
            "served": self.served,
            "shadow": self.shadow,
            "min_feedback": self.min_feedback,
            "arms": [a.to_json() for a in self.arms],
            "verdict": self.verdict.to_json(),
        }


def compare(
    ledger: Ledger,
    env: str,
    since: str = "24h",
    until: str | None = None,
    *,
    now: datetime | None = None,
    min_feedback: int = MIN_FEEDBACK,
) -> Comparison:
    """Summarise ``env``'s predictions served in [since, until). ``since`` and ``until`` are
    ISO-8601 instants or durations back from ``now`` (``24h``, ``7d``, ``30m``)."""
    moment = now or datetime.now(UTC)
    start = format_time(parse_since(since, moment, "--since"))
    end = None if until is None else format_time(parse_since(until, moment, "--until"))
    if end is not None and end <= start:
        raise InvalidInput(f"--until {until!r} is not after --since {since!r}")
    with ledger.db.read() as conn:
        require_env(conn, env)
        window = log_window(conn, env, start, end)
        counts = arm_counts(conn, window)
        if not counts:
            return Comparison(env, start, end, (), verdict([]), 0, 0, min_feedback)
        keys = [_key(r) for r in counts]
        latencies = arm_latency_percentiles(conn, window, PERCENTILES, keys)
        feedback = arm_feedback(conn, window)
        names = labels(conn, {r["version_id"] for r in counts})
    judged: dict[ArmKey, tuple[int, int]] = {}
    for r in feedback:
        key = _key(r)
        n, correct = int(r["n"]), int(r["correct"] or 0)
        if r["label_json"] is not None and label_matches(r["label_json"], r["output_json"]):
            correct = n
        seen_n, seen_correct = judged.get(key, (0, 0))
        judged[key] = (seen_n + n, seen_correct + correct)
    served = sum(int(r["n"]) for r in counts if r["mode"] == "served")
    shadow = sum(int(r["n"]) for r in counts if r["mode"] == "shadow")
    arms = []
    for row in counts:
        key = _key(row)
        n_latency, values = latencies.get(key, (0, []))
        latency = Latency(0)
        if n_latency:
            p50, p95, p99 = values  # in the order of PERCENTILES
            latency = Latency(n_latency, p50, p95, p99)
        n_judged, n_correct = judged.get(key, (0, 0))
        quality = Proportion.of(n_correct, n_judged) if n_judged else None
        mean = row["mean_confidence"]
        arms.append(
            ArmSummary(
                arm=row["arm"],
                mode=row["mode"],
                version_id=row["version_id"],
                label=names.get(row["version_id"]),
                count=int(row["n"]),
                share=int(row["n"]) / served if served else None,
                latency=latency,
                mean_confidence=None if mean is None else float(mean),
                confidence_n=int(row["confidence_n"]),
                quality=quality,
            )
        )
    arms.sort(key=arm_order)
    return Comparison(
        env, start, end, tuple(arms), verdict(arms, min_feedback), served, shadow, min_feedback
    )


def _key(row: dict[str, Any]) -> ArmKey:
    return (row["arm"], row["mode"], row["version_id"])
