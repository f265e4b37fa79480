"""Comparing the arms of an experiment: percentiles, per-arm summaries and the verdict that names
a winner only when the data carry one. Pure. The Wilson interval, label matching and ``--since``
parsing, which drift shares, are in :mod:`modelledger.core.stats`.

Definitions, so that every backend and every reader gets the same numbers:

- **Percentile** ``p`` of ``n`` sorted values is linear interpolation between the values at
  zero-based positions ``floor((n-1)·p)`` and the next one — PostgreSQL's ``percentile_cont``,
  numpy's default, ``statistics.quantiles(method="inclusive")``.
- **Accuracy** is the share of predictions judged correct, with a 95% **Wilson score interval**
  (sound for small ``n`` and for shares near 0 or 1, unlike the normal approximation).
- **Correct**: the newest feedback for a request decides. For a served answer an explicit
  ``was_correct`` wins; otherwise the label is compared with the output by canonical JSON
  equality (:func:`~modelledger.core.stats.label_matches`: ``1`` equals ``1.0``, key order is
  irrelevant, ``{"label": 1}`` does not equal ``1``). A shadow's output was never shown, so
  ``was_correct`` (which judges the served answer) says nothing about it: shadows are scored
  against labels only.
- **Verdict**: a winner is named only when exactly two served arms each have at least
  ``min_feedback`` judged predictions and their intervals do not overlap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from modelledger.core.ids import short
from modelledger.core.stats import wilson_interval

PERCENTILES = (0.5, 0.95, 0.99)
MIN_FEEDBACK = 30

# --- percentiles -------------------------------------------------------------------------------


def percentile_position(n: int, p: float) -> tuple[int, float]:
    """Where percentile ``p`` of ``n`` sorted values falls: the zero-based index ``i`` of the
    lower value and the fraction of the way to value ``i + 1``."""
    if n <= 0:
        raise ValueError("no values")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"percentile {p} outside [0, 1]")
    position = (n - 1) * p
    index = math.floor(position)
    return index, position - index


def interpolate(lower: float, upper: float | None, fraction: float) -> float:
    """The value ``fraction`` of the way from ``lower`` to ``upper`` (absent at the top end)."""
    if upper is None or fraction == 0.0:
        return lower
    return lower + (upper - lower) * fraction


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Percentile ``p`` (0…1) of values sorted ascending, by linear interpolation."""
    index, fraction = percentile_position(len(sorted_values), p)
    upper = sorted_values[index + 1] if index + 1 < len(sorted_values) else None
    return interpolate(sorted_values[index], upper, fraction)


# --- proportions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proportion:
    """``successes`` out of ``n``, with its 95% Wilson interval."""

    successes: int
    n: int
    low: float
    high: float

    @classmethod
    def of(cls, successes: int, n: int) -> Proportion:
        low, high = wilson_interval(successes, n)
        return cls(successes, n, low, high)

    @property
    def estimate(self) -> float:
        return self.successes / self.n

    def overlaps(self, other: Proportion) -> bool:
        return self.low <= other.high and other.low <= self.high

    def describe(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.2f}, {self.high:.2f}]"

    def to_json(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "correct": self.successes,
            "accuracy": self.estimate,
            "ci_low": self.low,
            "ci_high": self.high,
            "confidence_level": 0.95,
        }


# --- arms --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Latency percentiles (ms) over the ``n`` predictions that recorded a latency."""

    n: int
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    def to_json(self) -> dict[str, float | int | None]:
        return {"n": self.n, "p50": self.p50, "p95": self.p95, "p99": self.p99}


@dataclass(frozen=True)
class ArmSummary:
    """One group of predictions: a served arm running one version, or one shadow version.
    ``share`` is ``count`` over the window's served predictions — for a shadow, the part of the
    served traffic it also scored."""

    arm: str | None  # None for shadows (grouped by version) and for predictions logged without
    mode: str
    version_id: str
    label: str | None
    count: int
    share: float | None
    latency: Latency
    mean_confidence: float | None
    confidence_n: int
    quality: Proportion | None  # None: no feedback for any of this group's predictions

    @property
    def version(self) -> str:
        return self.label or short(self.version_id)

    @property
    def name(self) -> str:
        if self.mode == "shadow":
            return f"shadow {self.version}"
        return self.arm or "(no arm)"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "arm": self.arm,
            "mode": self.mode,
            "version_id": self.version_id,
            "label": self.label,
            "count": self.count,
            "share": self.share,
            "latency_ms": self.latency.to_json(),
            "mean_confidence": self.mean_confidence,
            "confidence_n": self.confidence_n,
            "feedback_n": self.quality.n if self.quality else 0,
            "quality": self.quality.to_json() if self.quality else None,
        }


def arm_order(arm: ArmSummary) -> tuple[int, int, str, str]:
    """Served before shadow; ``primary`` first, then named arms by name, then predictions
    logged without an arm; shadows by version."""
    if arm.mode != "served":
        return (3, 0, "", arm.version)
    if arm.arm is None:
        return (2, 0, "", arm.version)
    return (0 if arm.arm == "primary" else 1, 0, arm.arm, arm.version)


@dataclass(frozen=True)
class Verdict:
    significant: bool
    text: str
    winner: ArmSummary | None = None
    loser: ArmSummary | None = None

    def to_json(self) -> dict[str, object]:
        def who(arm: ArmSummary | None) -> dict[str, object] | None:
            if arm is None:
                return None
            return {"name": arm.name, "version_id": arm.version_id, "label": arm.label}

        return {
            "significant": self.significant,
            "winner": who(self.winner),
            "loser": who(self.loser),
            "text": self.text,
        }


def _who(arm: ArmSummary) -> str:
    return arm.version if arm.arm is None else f"{arm.version} ({arm.arm})"


def verdict(arms: Sequence[ArmSummary], min_feedback: int = MIN_FEEDBACK) -> Verdict:
    """Name the better of exactly two served arms, when both have ``min_feedback`` judged
    predictions and their 95% intervals do not overlap; otherwise say why not."""
    if not arms:
        return Verdict(False, "no predictions in the window")
    served = [a for a in arms if a.mode == "served"]
    if len(served) != 2:
        if len(served) < 2:
            return Verdict(False, f"{len(served)} served arm(s) in the window: nothing to compare")
        return Verdict(
            False,
            f"{len(served)} served arms in the window: a verdict compares exactly two",
        )
    a, b = served
    counts = f"{_who(a)} has {_n(a)}, {_who(b)} has {_n(b)}"
    if a.quality is None or b.quality is None or min(a.quality.n, b.quality.n) < min_feedback:
        return Verdict(
            False,
            f"not yet significant: too little feedback ({counts}; {min_feedback} each needed)",
        )
    if a.quality.overlaps(b.quality):
        return Verdict(
            False,
            f"difference not yet significant: {_who(a)} {a.quality.describe()} vs {_who(b)} "
            f"{b.quality.describe()} — the 95% intervals overlap ({counts})",
        )
    better, worse = (a, b) if a.quality.estimate > b.quality.estimate else (b, a)
    assert better.quality is not None and worse.quality is not None
    return Verdict(
        True,
        f"{better.version} is better: {better.quality.describe()} vs "
        f"{worse.quality.describe()} ({better.name} vs {worse.name})",
        better,
        worse,
    )


def _n(arm: ArmSummary) -> str:
    n = arm.quality.n if arm.quality else 0
    return f"{n:,} feedback row(s)"
