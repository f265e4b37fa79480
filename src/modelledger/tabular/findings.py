"""Findings: the diff read out as a short, ordered list of things a person should look at.

The order is by kind, most damaging first, not by severity: a category that vanished is the
classic silent ETL failure (a join or filter dropped every 'clicks' row) and nothing else in the
diff explains a model's sudden blind spot as directly, so it always leads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from modelledger.tabular.categories import CategoryDiff
from modelledger.tabular.columns import ColumnDiff, SchemaDiff
from modelledger.tabular.keyed import KeyedDiff

Severity = Literal["alert", "warn", "info"]

PER_COLUMN = 10  # vanished/appeared findings per column before one summarising finding
MOVE_WARN = 0.05  # share moves of 5 points or more
MOVE_INFO = 0.01
ROWS_WARN = 0.10  # row count changes of 10% or more
NULL_WARN = 0.05  # null rate up by 5 points or more
MEAN_WARN = 0.5  # mean moved by half a standard deviation of A
MEAN_INFO = 0.1
APPEARED_WARN = 0.01  # a new category holding 1% of B's rows


@dataclass(frozen=True)
class Finding:
    severity: Severity
    kind: str
    column: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "column": self.column,
            "message": self.message,
        }


def findings(
    labels: tuple[str, str],
    rows_a: int,
    rows_b: int,
    *,
    schema: SchemaDiff,
    columns: tuple[ColumnDiff, ...],
    categories: list[CategoryDiff],
    keyed: KeyedDiff | None,
    ids: set[str],
) -> tuple[Finding, ...]:
    """The findings, most important kind first; ``ids`` are columns whose mean means nothing."""
    out: list[Finding] = []
    out += _vanished(categories, rows_a)
    out += _appeared(categories, rows_b)
    out += _moved(categories)
    out += _schema(schema)
    out += _row_count(rows_a, rows_b)
    if keyed is not None:
        out += _keyed(keyed, rows_a, labels)
    out += _null_rates(columns)
    out += _means(columns, ids)
    return tuple(out)


def _vanished(categories: list[CategoryDiff], rows_a: int) -> list[Finding]:
    found: list[tuple[float, Finding]] = []
    for cat in categories:
        for c in cat.vanished[:PER_COLUMN]:
            message = (
                f"category {_value(c.value)} of column {cat.column} vanished "
                f"(was {_pct(c.share)} of {rows_a:,} rows)"
            )
            found.append((c.share, Finding("alert", "category_vanished", cat.column, message)))
        if (rest := cat.vanished_total - min(len(cat.vanished), PER_COLUMN)) > 0:
            message = f"…and {rest:,} more categories of column {cat.column} vanished"
            found.append((-1.0, Finding("alert", "category_vanished", cat.column, message)))
    return [f for _, f in sorted(found, key=lambda p: -p[0])]


def _appeared(categories: list[CategoryDiff], rows_b: int) -> list[Finding]:
    found: list[tuple[float, Finding]] = []
    for cat in categories:
        for c in cat.appeared[:PER_COLUMN]:
            severity: Severity = "warn" if c.share >= APPEARED_WARN else "info"
            message = (
                f"category {_value(c.value)} of column {cat.column} appeared "
                f"(now {_pct(c.share)} of {rows_b:,} rows)"
            )
            found.append((c.share, Finding(severity, "category_appeared", cat.column, message)))
        if (rest := cat.appeared_total - min(len(cat.appeared), PER_COLUMN)) > 0:
            message = f"…and {rest:,} more new categories of column {cat.column}"
            found.append((-1.0, Finding("info", "category_appeared", cat.column, message)))
    return [f for _, f in sorted(found, key=lambda p: -p[0])]


def _moved(categories: list[CategoryDiff]) -> list[Finding]:
    found: list[tuple[float, Finding]] = []
    for cat in categories:
        for m in cat.moved:
            size = abs(m.delta)
            if size < MOVE_INFO:
                continue
            severity: Severity = "warn" if size >= MOVE_WARN else "info"
            message = (
                f"share of {_value(m.value)} in column {cat.column} moved from "
                f"{_pct(m.share_a)} to {_pct(m.share_b)} ({_points(m.delta)})"
            )
            found.append((size, Finding(severity, "category_share_moved", cat.column, message)))
    return [f for _, f in sorted(found, key=lambda p: -p[0])]


def _schema(schema: SchemaDiff) -> list[Finding]:
    out = [
        Finding("warn", "column_removed", c.name, f"column {c.name} ({c.type}) removed")
        for c in schema.removed
    ]
    out += [
        Finding("info", "column_added", c.name, f"column {c.name} ({c.type}) added")
        for c in schema.added
    ]
    out += [
        Finding(
            "warn", "column_type_changed", t.name, f"column {t.name} changed type {t.a} → {t.b}"
        )
        for t in schema.type_changed
    ]
    return out


def _row_count(rows_a: int, rows_b: int) -> list[Finding]:
    if rows_a == rows_b:
        return []
    if rows_a == 0:
        return [Finding("warn", "row_count_changed", None, f"rows went from 0 to {rows_b:,}")]
    change = (rows_b - rows_a) / rows_a
    severity: Severity = "warn" if abs(change) >= ROWS_WARN else "info"
    message = f"rows went from {rows_a:,} to {rows_b:,} ({change * 100:+.1f}%)"
    return [Finding(severity, "row_count_changed", None, message)]


def _keyed(keyed: KeyedDiff, rows_a: int, labels: tuple[str, str]) -> list[Finding]:
    key = ", ".join(keyed.key)
    a, b = labels
    out: list[Finding] = []
    if keyed.removed:
        severity: Severity = "warn" if keyed.removed >= 0.01 * max(rows_a, 1) else "info"
        out.append(
            Finding(
                severity,
                "rows_removed",
                None,
                f"{_rows(keyed.removed)} of {a} with no matching {key} in {b}",
            )
        )
    if keyed.added:
        out.append(
            Finding(
                "info",
                "rows_added",
                None,
                f"{_rows(keyed.added)} of {b} with no matching {key} in {a}",
            )
        )
    if keyed.changed:
        out.append(
            Finding(
                "info", "rows_changed", None, f"{_rows(keyed.changed)} with the same {key} changed"
            )
        )
    for side, count in ((a, keyed.duplicate_keys_a), (b, keyed.duplicate_keys_b)):
        if count:
            values = "1 value" if count == 1 else f"{count:,} values"
            occur = "occurs" if count == 1 else "occur"
            message = f"{values} of {key} {occur} more than once in {side} (not compared)"
            out.append(Finding("warn", "duplicate_keys", None, message))
    return out


def _null_rates(columns: tuple[ColumnDiff, ...]) -> list[Finding]:
    found: list[tuple[float, Finding]] = []
    for c in columns:
        a, b = c.null_rate.a, c.null_rate.b
        if a is None or b is None or b - a < NULL_WARN:
            continue
        message = f"null rate of column {c.name} rose from {_pct(a)} to {_pct(b)}"
        found.append((b - a, Finding("warn", "null_rate_increased", c.name, message)))
    return [f for _, f in sorted(found, key=lambda p: -p[0])]


def _means(columns: tuple[ColumnDiff, ...], ids: set[str]) -> list[Finding]:
    found: list[tuple[float, Finding]] = []
    for c in columns:
        if (
            c.name in ids
            or c.mean is None
            or c.stddev is None
            or c.mean.a is None
            or c.mean.b is None
        ):
            continue
        delta = c.mean.b - c.mean.a
        if delta == 0:
            continue
        scale = c.stddev.a or c.stddev.b
        moved = f"mean of column {c.name} moved from {c.mean.a:.6g} to {c.mean.b:.6g}"
        if not scale:
            # A constant column that changed value: any move is a step change.
            found.append((float("inf"), Finding("warn", "mean_shifted", c.name, moved)))
            continue
        z = abs(delta) / scale
        if z < MEAN_INFO:
            continue
        severity: Severity = "warn" if z >= MEAN_WARN else "info"
        message = f"{moved} ({delta / scale:+.2f} standard deviations)"
        found.append((z, Finding(severity, "mean_shifted", c.name, message)))
    return [f for _, f in sorted(found, key=lambda p: -p[0])]


def _value(value: str | None) -> str:
    return "NULL" if value is None else repr(value)


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def _points(delta: float) -> str:
    return f"{delta * 100:+.1f} points"


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n:,} rows"
