"""Turning what DuckDB returns into JSON-safe Python values."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from typing import Any


def json_value(value: Any) -> Any:
    """A cell value as JSON can carry it: NaN/Infinity become None, temporal values ISO strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return json_value(float(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def stat(value: float | int | None, digits: int = 10) -> float | None:
    """A summary statistic rounded to ``digits`` significant digits; None when not finite.

    Approximate quantiles and parallel sums differ in the last bits between runs; rounding keeps
    the reported figures stable without losing anything a reader could use.
    """
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    return float(f"{number:.{digits}g}")


def share(count: int, total: int) -> float:
    """count/total as a fraction rounded to six decimals (0 when total is 0)."""
    return round(count / total, 6) if total else 0.0
