"""Reading a drift check's result values for the report, shared by the page
(:mod:`modelledger.drift.report.page`) and its charts (:mod:`modelledger.drift.report.charts`).

The result is JSON from outside (a file, another version of mledger), so every reader tolerates a
missing key, a null or a value of the wrong type, and answers with something the page can show.
No matplotlib or numpy here: importing the page imports neither.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from modelledger.drift.judge import STATUSES, status_rank

LABEL_CHARS = 22  # tick labels and chart titles are cut here; tables carry the full text


def as_float(value: Any) -> float | None:
    """A finite number as a float; None for anything else (bools, NaN, text, absent)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def as_text(value: Any) -> str:
    return "" if value is None else str(value)


def as_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def as_interval(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    low, high = as_float(value[0]), as_float(value[1])
    return None if low is None or high is None else (low, high)


def as_status(value: Any) -> str:
    """A known status (:data:`~modelledger.drift.judge.STATUSES`), else ``insufficient``."""
    return value if isinstance(value, str) and value in STATUSES else "insufficient"


def worst_first(value: Any) -> int:
    """A sort key putting the worst status first (an unknown one counts as insufficient)."""
    return -status_rank(as_status(value))


def cut(text: str, limit: int = LABEL_CHARS) -> str:
    """At most ``limit`` characters, cut in the middle: names that share a prefix (country_fr,
    country_de) or a suffix still tell apart."""
    if len(text) <= limit:
        return text
    head = limit // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def fmt_number(value: Any, digits: int = 3) -> str:
    number = as_float(value)
    return "—" if number is None else f"{number:.{digits}g}"


def fmt_count(value: Any) -> str:
    number = as_float(value)
    return "—" if number is None else f"{int(number):,}"


def histogram_of(signal: dict[str, Any]) -> tuple[list[str], list[float], list[float]] | None:
    """The signal's histogram as (labels, reference counts, current counts); None when it has
    none or its three lists do not line up."""
    hist = signal.get("histogram")
    if not isinstance(hist, dict):
        return None
    labels = [as_text(label) for label in hist.get("labels") or []]
    ref = [as_float(c) or 0.0 for c in hist.get("reference") or []]
    cur = [as_float(c) or 0.0 for c in hist.get("current") or []]
    if not labels or not len(labels) == len(ref) == len(cur):
        return None
    return labels, ref, cur


def is_wide(signal: dict[str, Any]) -> bool:
    """Whether the signal's histogram needs the page's full width."""
    hist = histogram_of(signal)
    if hist is None:
        return False
    labels = hist[0]
    return len(labels) > 12 or sum(len(cut(label, 16)) for label in labels) > 70


def series_of(signal: dict[str, Any]) -> list[tuple[datetime, int, int]]:
    """The quality signal's buckets as (start, n, correct), in time order; empty when no
    bucket has any feedback."""
    points = []
    for bucket in (signal.get("details") or {}).get("series") or []:
        start = as_time(bucket.get("start"))
        n, correct = as_float(bucket.get("n")), as_float(bucket.get("correct"))
        if start is not None and n is not None:
            points.append((start, int(n), int(correct or 0)))
    points.sort()
    return points if any(n > 0 for _, n, _ in points) else []
