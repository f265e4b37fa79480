"""Judging drift: one :class:`Signal` per feature, output, quality and protected slice of a version,
each with a status, the number behind it and a sentence saying why.

The rules (thresholds from :mod:`drift_policy`):
- fewer than ``min_observations`` is *insufficient*, never *ok*;
- input/output drift *alerts* when PSI reaches ``psi.alert`` and the KS (numeric) or chi-square
  (categorical) test agrees (p < ``p_value``); it *warns* when PSI reaches ``psi.warn`` or the
  test alone is significant. (On a million rows every test is significant; PSI says how much.)
- a reference feature absent from the traffic is a drift of its own kind: *feature disappeared*;
- quality (accuracy from feedback) and each slice's quality *alert* below their floor.
Pure: counts in, signals out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from modelledger.core.stats import wilson_interval
from modelledger.drift.stats import chi_square, js_distance, ks_from_bins, psi

if TYPE_CHECKING:
    # Annotations only: the report's readers import the status order from here without
    # importing numpy (through the profile) or pydantic (through the policy).
    from modelledger.drift.policy import DriftPolicy
    from modelledger.drift.profile import FeatureProfile

Status = Literal["ok", "warn", "alert", "insufficient"]
SignalKind = Literal["input", "output", "quality", "slice", "missing_feature", "reference"]
STATUSES: tuple[Status, ...] = ("alert", "warn", "insufficient", "ok")
"""Every status, worst first: the one order for overall statuses, JSON and the report."""
_RANK: dict[str, int] = {s: len(STATUSES) - 1 - i for i, s in enumerate(STATUSES)}


def worst(statuses: Sequence[str]) -> Status:
    """The overall status: any alert, else any warning, else insufficient, else ok."""
    if not statuses:
        return "insufficient"
    found = max(statuses, key=lambda s: _RANK[s])
    return found  # type: ignore[return-value]


def status_rank(status: str) -> int:
    """How bad ``status`` is: higher is worse (``ok`` is 0). KeyError for an unknown status."""
    return _RANK[status]


@dataclass(frozen=True)
class Signal:
    kind: SignalKind
    name: str
    status: Status
    message: str
    n: int = 0
    statistic: str | None = None
    value: float | None = None
    threshold: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    histogram: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "statistic": self.statistic,
            "value": self.value,
            "threshold": self.threshold,
            "n": self.n,
            "message": self.message,
            "details": self.details,
        }
        if self.histogram is not None:
            out["histogram"] = self.histogram
        return out


def _p_text(p: float) -> str:
    return "p < 1e-300" if p <= 1e-300 else f"p = {p:.3g}"


def distribution_signal(
    kind: Literal["input", "output"],
    name: str,
    reference: FeatureProfile,
    current: Sequence[int],
    current_nulls: int,
    policy: DriftPolicy,
    *,
    new_categories: dict[str, int] | None = None,
) -> Signal:
    """Compare the current counts (on the reference's bins) with the reference."""
    ref = reference.reference_counts()
    n = int(sum(current))
    rows = n + current_nulls
    details: dict[str, Any] = {
        "null_rate_reference": reference.null_rate,
        "null_rate_current": current_nulls / rows if rows else None,
    }
    histogram = {"labels": reference.bin_labels(), "reference": ref, "current": list(current)}
    if new_categories:
        details["new_categories"] = new_categories
    if sum(ref) == 0:
        return Signal(
            kind, name, "insufficient", "the reference holds no values", n, "psi",
            details=details, histogram=histogram,
        )  # fmt: skip
    if n == 0 and rows > 0:
        return Signal(
            kind, name, "alert", f"every one of {rows:,} values is null (reference: "
            f"{reference.null_rate or 0:.1%} null)", rows, "null_rate", 1.0,
            details=details, histogram=histogram,
        )  # fmt: skip
    if n < policy.min_observations:
        return Signal(
            kind, name, "insufficient",
            f"insufficient data: {n} values, {policy.min_observations} needed", n, "psi",
            threshold=policy.psi.alert, details=details, histogram=histogram,
        )  # fmt: skip
    value = psi(ref, current)
    details["psi"] = value
    details["js"] = js_distance(ref, current)
    if reference.kind == "numeric":
        d, p = ks_from_bins(ref, current)
        details.update(ks_d=d, ks_p=p)
        test = f"KS D = {d:.3f}, {_p_text(p)}"
    else:
        stat, dof, p = chi_square(ref, current)
        details.update(chi2=stat, chi2_dof=dof, chi2_p=p)
        test = f"chi-square {_p_text(p)}"
    significant = p < policy.p_value
    if value >= policy.psi.alert and significant:
        status: Status = "alert"
        why = f"PSI {value:.3f} ≥ {policy.psi.alert}; {test}"
    elif value >= policy.psi.warn or significant:
        status = "warn"
        why = f"PSI {value:.3f}" + (f" ≥ {policy.psi.warn}" if value >= policy.psi.warn else "")
        why += f"; {test}"
    else:
        status = "ok"
        why = f"PSI {value:.3f}; {test}"
    if new_categories:
        shown = ", ".join(list(new_categories)[:3])
        why += f"; {len(new_categories)} new categor{'y' if len(new_categories) == 1 else 'ies'}"
        why += f" ({shown})"
    vanished = _vanished(reference, current)
    if vanished:
        details["vanished_categories"] = vanished
        why += f"; vanished: {', '.join(vanished[:3])}"
    return Signal(kind, name, status, why, n, "psi", value, policy.psi.alert, details, histogram)


def _vanished(reference: FeatureProfile, current: Sequence[int]) -> list[str]:
    """Categories the reference saw at least 1% of the time that are now absent."""
    if reference.kind != "categorical" or not reference.non_null:
        return []
    floor = reference.non_null / 100
    return [
        c
        for c, before, now in zip(reference.categories, reference.counts, current, strict=False)
        if before >= floor and now == 0
    ]


def disappeared(name: str, reference: FeatureProfile, rows: int) -> Signal:
    return Signal(
        "missing_feature",
        name,
        "alert",
        f"feature disappeared: in the reference ({reference.non_null:,} values) but in none of "
        f"the {rows:,} predictions",
        rows,
        details={"null_rate_reference": reference.null_rate},
    )


@dataclass(frozen=True)
class QualityPoint:
    start: str
    n: int
    correct: int


@dataclass(frozen=True)
class Floor:
    """The accuracy below which quality alerts (None: no floor), and where it came from."""

    value: float | None
    source: str


def quality_signal(
    kind: Literal["quality", "slice"],
    name: str,
    n: int,
    correct: int,
    bar: Floor,
    policy: DriftPolicy,
    *,
    series: Sequence[QualityPoint] = (),
    definition: dict[str, Any] | None = None,
) -> Signal:
    """Accuracy from feedback against its floor; a slice is judged like the whole."""
    floor, floor_source = bar.value, bar.source
    details: dict[str, Any] = {"floor_source": floor_source}
    if series:
        details["series"] = [{"start": p.start, "n": p.n, "correct": p.correct} for p in series]
    if definition is not None:
        details["definition"] = definition
    what = "accuracy" if kind == "quality" else f"slice {name} accuracy"
    if n < policy.min_observations:
        return Signal(
            kind, name, "insufficient",
            f"insufficient data: {n} predictions with feedback, {policy.min_observations} needed",
            n, "accuracy", correct / n if n else None, floor, details,
        )  # fmt: skip
    value = correct / n
    lo, hi = wilson_interval(correct, n)
    details["ci"] = [lo, hi]
    if floor is None:
        return Signal(
            kind, name, "ok", f"{what} {value:.3f} over {n:,} (no floor: {floor_source})",
            n, "accuracy", value, None, details,
        )  # fmt: skip
    if value < floor:
        return Signal(
            kind, name, "alert",
            f"{what} {value:.3f} < floor {floor:g} over {n:,} (95% CI {lo:.3f}–{hi:.3f})",
            n, "accuracy", value, floor, details,
        )  # fmt: skip
    return Signal(
        kind, name, "ok", f"{what} {value:.3f} ≥ floor {floor:g} over {n:,}",
        n, "accuracy", value, floor, details,
    )  # fmt: skip


def undefined_slice(name: str) -> Signal:
    return Signal(
        "slice",
        name,
        "insufficient",
        f"protected slice {name!r} has no definition in traffic: add "
        f"`slices: {{{name}: {{FEATURE: VALUE}}}}` to the drift policy (--policy)",
    )
