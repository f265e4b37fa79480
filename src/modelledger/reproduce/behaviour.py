"""Whether a reproduced model behaves as the version does, when their bytes differ (S12): pure.

- **Outputs**: both models predict the version's eval set. Numeric outputs are compared with the
  two-sample Kolmogorov–Smirnov test on the raw outputs (D exact; its p-value by the asymptotic
  Kolmogorov distribution with Stephens' correction, within 0.07 of scipy's exact p-value from
  20 values a side, closer as they grow); labels
  with the chi-square test of homogeneity on their counts. The reproduction passes when the
  p-value is at least ``alpha`` (0.01 by default): no evidence that the two differ.
- **Metrics**: what the training script recorded during the reproduction (``ml.record_eval``)
  against the version's own results on the same eval set, each within ``tolerance``
  (absolute, 0.01 by default).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from modelledger.drift.stats import chi_square, kolmogorov_sf

ALPHA = 0.01
TOLERANCE = 0.01


def ks_two_sample(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(D, p) of the exact two-sample KS statistic."""
    xs, ys = sorted(a), sorted(b)
    n, m = len(xs), len(ys)
    if not n or not m:
        raise ValueError("both samples must hold values")
    i = j = 0
    d = 0.0
    while i < n and j < m:
        x = min(xs[i], ys[j])
        while i < n and xs[i] == x:
            i += 1
        while j < m and ys[j] == x:
            j += 1
        d = max(d, abs(i / n - j / m))
    en = math.sqrt(n * m / (n + m))
    return d, kolmogorov_sf((en + 0.12 + 0.11 / en) * d)


def compare_outputs(
    original: list[Any], reproduced: list[Any], alpha: float = ALPHA
) -> dict[str, Any]:
    """The test, its statistic and p-value, the share of rows answered alike, and the verdict."""
    if len(original) != len(reproduced) or not original:
        raise ValueError("both models must answer every row of the eval set")
    same = sum(a == b for a, b in zip(original, reproduced, strict=True)) / len(original)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in original)
    labels = sorted({*map(str, original), *map(str, reproduced)})
    if numeric and len(labels) > 20:
        d, p = ks_two_sample([float(v) for v in original], [float(v) for v in reproduced])
        test: dict[str, Any] = {"test": "ks", "statistic": d, "p_value": p}
    else:
        left, right = Counter(map(str, original)), Counter(map(str, reproduced))
        if len(labels) < 2:
            test = {"test": "chi_square", "statistic": 0.0, "p_value": 1.0}
        else:
            stat, _, p = chi_square([left[k] for k in labels], [right[k] for k in labels])
            test = {"test": "chi_square", "statistic": stat, "p_value": p}
    return {**test, "alpha": alpha, "agreement": same, "ok": test["p_value"] >= alpha}


def compare_metrics(
    recorded: dict[str, float], reproduced: dict[str, float], tolerance: float = TOLERANCE
) -> dict[str, Any]:
    """Each metric both sides have, its difference, and whether all are within ``tolerance``."""
    rows: list[dict[str, Any]] = [
        {"metric": k, "recorded": recorded[k], "reproduced": reproduced[k],
         "difference": reproduced[k] - recorded[k]}
        for k in sorted(recorded.keys() & reproduced.keys())
    ]  # fmt: skip
    ok = bool(rows) and all(abs(float(r["difference"])) <= tolerance for r in rows)
    return {"tolerance": tolerance, "metrics": rows, "ok": ok}
