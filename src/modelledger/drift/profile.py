"""Reference profiles: what a feature (or the output) looked like when a version was trained, kept
compact enough to store beside the version and to compare a million served rows against.

A numeric feature keeps quantile bin edges and the count in each bin, with mean, spread and null
count; a categorical one keeps its most frequent categories and an "other" count. Current traffic
is counted into the *reference's* bins (``numeric_counts``, ``category_counts``), so the two sides
always line up bin for bin. Pure: values arrive as numpy arrays or (value, count) pairs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from modelledger.core.canonical import digest
from modelledger.core.errors import InvalidInput
from modelledger.drift.profile_key import BINS, PROFILE_SCHEMA, TOP_K

Kind = Literal["numeric", "categorical"]


def category_token(value: Any) -> str:
    """One spelling per category, whichever way it arrived: CSV text, a Parquet integer, a JSON
    boolean. ``1``, ``1.0`` and ``"1"`` are the same category; ``True`` is ``"true"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class FeatureProfile:
    kind: Kind
    rows: int  # every row, nulls included
    nulls: int  # null, or NaN for numbers
    # numeric: interior cut points; bin i holds edges[i-1] < x <= edges[i] (±inf in the end bins)
    edges: tuple[float, ...] = ()
    # numeric: len(edges) + 1 bins; categorical: one per entry of ``categories``
    counts: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    other: int = 0  # categorical: non-null values outside ``categories``
    mean: float | None = None
    std: float | None = None

    @property
    def non_null(self) -> int:
        return self.rows - self.nulls

    @property
    def null_rate(self) -> float | None:
        return self.nulls / self.rows if self.rows else None

    def bin_labels(self) -> list[str]:
        """Human labels for the bins, in order (the report's x axis)."""
        if self.kind == "categorical":
            return [*self.categories, "other"]
        if not self.edges:
            return ["all"]
        e = [f"{x:.4g}" for x in self.edges]
        return [f"≤ {e[0]}", *(f"{a}–{b}" for a, b in itertools.pairwise(e)), f"> {e[-1]}"]

    def reference_counts(self) -> list[int]:
        """The counts on the same bins as :meth:`bin_labels`."""
        return [*self.counts, self.other] if self.kind == "categorical" else list(self.counts)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "rows": self.rows, "nulls": self.nulls}
        if self.kind == "numeric":
            out.update(edges=list(self.edges), counts=list(self.counts))
            out.update(mean=self.mean, std=self.std)
        else:
            out.update(categories=list(self.categories), counts=list(self.counts))
            out.update(other=self.other)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureProfile:
        kind = data["kind"]
        if kind not in ("numeric", "categorical"):
            raise InvalidInput(f"profile: unknown feature kind {kind!r}")
        return cls(
            kind=kind,
            rows=int(data["rows"]),
            nulls=int(data["nulls"]),
            edges=tuple(float(x) for x in data.get("edges", ())),
            counts=tuple(int(x) for x in data["counts"]),
            categories=tuple(str(x) for x in data.get("categories", ())),
            other=int(data.get("other", 0)),
            mean=data.get("mean"),
            std=data.get("std"),
        )


@dataclass(frozen=True)
class ReferenceProfile:
    """Every profiled feature of one version, the output's distribution when known, and where the
    profile came from (the training snapshots, or served traffic in a window)."""

    features: dict[str, FeatureProfile]
    source: dict[str, Any]
    rows: int
    output: FeatureProfile | None = None
    label: str | None = None  # the training column the output profile came from
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": PROFILE_SCHEMA,
            "source": self.source,
            "rows": self.rows,
            "label": self.label,
            "features": {k: v.to_json() for k, v in sorted(self.features.items())},
            "output": self.output.to_json() if self.output else None,
        }

    def sha256(self) -> str:
        return digest(self.to_json())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        if data.get("schema") != PROFILE_SCHEMA:
            raise InvalidInput(f"profile: unsupported schema {data.get('schema')!r}")
        output = data.get("output")
        return cls(
            features={k: FeatureProfile.from_json(v) for k, v in data["features"].items()},
            source=dict(data["source"]),
            rows=int(data["rows"]),
            output=FeatureProfile.from_json(output) if output else None,
            label=data.get("label"),
        )


FloatArray = npt.NDArray[np.float64]


def _bins(edges: tuple[float, ...], finite_or_inf: FloatArray) -> list[int]:
    # side="left": x equal to an edge falls in the bin that edge closes, (e[i-1], e[i]]
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), finite_or_inf, side="left")
    return [int(c) for c in np.bincount(idx, minlength=len(edges) + 1)]


def numeric_profile(values: FloatArray, bins: int = BINS) -> FeatureProfile:
    """Profile one numeric column (nulls as NaN). Edges are the distinct quantiles of the finite
    values, so a column with few distinct values gets fewer, never empty, bins."""
    values = np.asarray(values, dtype=np.float64)
    nan = np.isnan(values)
    present = values[~nan]
    finite = present[np.isfinite(present)]
    edges: tuple[float, ...] = ()
    mean = std = None
    if finite.size:
        # values near the float limits overflow sums and interpolation: such figures are left
        # out (a profile is canonical JSON, which has no infinity)
        with np.errstate(over="ignore", invalid="ignore"):
            qs = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1], method="linear")
            edges = tuple(float(x) for x in np.unique(qs) if np.isfinite(x))
            mean, std = _finite(finite.mean()), _finite(finite.std())
    return FeatureProfile(
        kind="numeric",
        rows=int(values.size),
        nulls=int(nan.sum()),
        edges=edges,
        counts=tuple(_bins(edges, present)),
        mean=mean,
        std=std,
    )


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def numeric_counts(profile: FeatureProfile, values: FloatArray) -> tuple[list[int], int]:
    """Current values counted into the reference's bins: (counts, nulls)."""
    values = np.asarray(values, dtype=np.float64)
    nan = np.isnan(values)
    return _bins(profile.edges, values[~nan]), int(nan.sum())


def categorical_profile(pairs: Iterable[tuple[Any, int]], top_k: int = TOP_K) -> FeatureProfile:
    """Profile one categorical column from (value, count) pairs; None is the null category."""
    merged: dict[str, int] = {}
    nulls = 0
    for value, n in pairs:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            nulls += int(n)
        else:
            token = category_token(value)
            merged[token] = merged.get(token, 0) + int(n)
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    kept, rest = ranked[:top_k], ranked[top_k:]
    return FeatureProfile(
        kind="categorical",
        rows=sum(merged.values()) + nulls,
        nulls=nulls,
        categories=tuple(k for k, _ in kept),
        counts=tuple(n for _, n in kept),
        other=sum(n for _, n in rest),
    )


@dataclass(frozen=True)
class CategoryCounts:
    counts: list[int]  # on the reference's bins: its categories, then "other"
    nulls: int
    new: dict[str, int]  # categories never seen in the reference (when it listed them all)


def category_counts(profile: FeatureProfile, pairs: Iterable[tuple[Any, int]]) -> CategoryCounts:
    """Current (value, count) pairs counted into the reference's categories. A category the
    reference never saw goes to "other", keeping PSI finite, and is named in ``new`` when the
    reference kept every category it had (else it may simply have been one of the rare ones)."""
    position = {c: i for i, c in enumerate(profile.categories)}
    counts = [0] * (len(profile.categories) + 1)
    nulls = 0
    new: dict[str, int] = {}
    complete = profile.other == 0
    for value, n in pairs:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            nulls += int(n)
            continue
        token = category_token(value)
        i = position.get(token)
        if i is None:
            counts[-1] += int(n)
            if complete:
                new[token] = new.get(token, 0) + int(n)
        else:
            counts[i] += int(n)
    return CategoryCounts(counts, nulls, dict(sorted(new.items(), key=lambda kv: -kv[1])))
