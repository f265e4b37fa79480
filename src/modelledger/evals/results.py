"""Eval results: the metrics (and per-slice metrics) of one version on one pinned eval set.

A result's ``ev-`` id hashes what was measured and on what, so recording the same numbers again
is the same result; scores are only comparable between results that share an eval set.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from modelledger.core import ids
from modelledger.core.errors import InvalidInput
from modelledger.core.params import parse_value

EVAL_RESULT = "ev"


def _number(value: Any, where: str) -> float:
    # bool is an int in Python, but True is not a score
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidInput(f"{where}: {value} is not a finite number")
    return float(value)


def _metric_map(data: Any, where: str) -> dict[str, float]:
    if not isinstance(data, Mapping) or not data:
        raise InvalidInput(f"{where}: expected a mapping of metric names to numbers")
    out = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key.strip():
            raise InvalidInput(f"{where}: metric names must be non-empty text, got {key!r}")
        out[key] = _number(value, f"{where} {key!r}")
    return out


def parse_metrics_file(
    data: Any, what: str = "--metrics"
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """``{metric: number, …}``, optionally with ``slices: {slice: {metric: number}}``."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{what}: expected a mapping of metric names to numbers")
    body = dict(data)
    raw_slices = body.pop("slices", None)
    metrics = _metric_map(body, what)
    slices: dict[str, dict[str, float]] = {}
    if raw_slices is not None:
        if not isinstance(raw_slices, Mapping):
            raise InvalidInput(f"{what} 'slices': expected a mapping of slice names to metrics")
        for name, values in raw_slices.items():
            slices[str(name)] = _metric_map(values, f"{what} slice {name!r}")
    return metrics, slices


def parse_metric_args(pairs: Iterable[str]) -> dict[str, float]:
    """``--metric auc=0.91`` flags."""
    out: dict[str, float] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--metric {pair!r}: expected NAME=NUMBER")
        if key in out:
            raise InvalidInput(f"--metric {key!r} is given twice")
        out[key.strip()] = _number(parse_value(raw), f"--metric {key!r}")
    return out


def parse_slice_args(items: Iterable[str]) -> dict[str, dict[str, float]]:
    """``--slice new_users:auc=0.88`` flags (several metrics of a slice: repeat the flag)."""
    out: dict[str, dict[str, float]] = {}
    for item in items:
        name, sep, pair = item.partition(":")
        if not sep or not name.strip():
            raise InvalidInput(f"--slice {item!r}: expected SLICE:METRIC=NUMBER")
        metrics = out.setdefault(name.strip(), {})
        key, _, _ = pair.partition("=")
        if key.strip() in metrics:
            raise InvalidInput(f"--slice {item!r}: {name}:{key} is given twice")
        try:
            metrics.update(parse_metric_args([pair]))
        except InvalidInput as exc:
            raise InvalidInput(f"--slice {item!r}: expected SLICE:METRIC=NUMBER ({exc})") from None
    return out


def merge_slices(
    *parts: dict[str, dict[str, float]],
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for part in parts:
        for name, metrics in part.items():
            target = out.setdefault(name, {})
            clash = set(target) & set(metrics)
            if clash:
                raise InvalidInput(f"slice {name!r}: {', '.join(sorted(clash))} given twice")
            target.update(metrics)
    return out


@dataclass(frozen=True)
class EvalResult:
    id: str
    subject_id: str  # the mv- or sys- id that was scored
    eval_set_id: str
    metrics: dict[str, float]
    slices: dict[str, dict[str, float]]
    report_sha256: str | None
    created_at: str
    created_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject_id,
            "eval_set": self.eval_set_id,
            "metrics": self.metrics,
            "slices": self.slices,
            "report": ids.blob_ref(self.report_sha256) if self.report_sha256 else None,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


def result_id(
    subject_id: str,
    eval_set_id: str,
    metrics: dict[str, float],
    slices: dict[str, dict[str, float]],
    report_sha256: str | None,
) -> str:
    return ids.make_id(
        EVAL_RESULT,
        {
            "schema": 1,
            "subject": subject_id,
            "eval_set": eval_set_id,
            "metrics": metrics,
            "slices": slices,
            "report_sha256": report_sha256,
        },
    )
