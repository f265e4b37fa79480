"""Schema diff and per-column statistics (null rate, mean, spread, quantiles) of two tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelledger.tabular.profile import QUANTILE_NAMES, Profile
from modelledger.tabular.reading import Column, Source
from modelledger.tabular.values import stat


@dataclass(frozen=True)
class TypeChange:
    name: str
    a: str
    b: str


@dataclass(frozen=True)
class SchemaDiff:
    added: tuple[Column, ...]  # in B only, in B's order
    removed: tuple[Column, ...]  # in A only, in A's order
    type_changed: tuple[TypeChange, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [{"name": c.name, "type": c.type} for c in self.added],
            "removed": [{"name": c.name, "type": c.type} for c in self.removed],
            "type_changed": [{"name": t.name, "a": t.a, "b": t.b} for t in self.type_changed],
        }


def schema_diff(a: Source, b: Source) -> tuple[SchemaDiff, list[str]]:
    """The schema diff and the common column names (in A's order)."""
    in_b = {c.name: c.type for c in b.columns}
    in_a = {c.name: c.type for c in a.columns}
    common = [c.name for c in a.columns if c.name in in_b]
    diff = SchemaDiff(
        added=tuple(c for c in b.columns if c.name not in in_a),
        removed=tuple(c for c in a.columns if c.name not in in_b),
        type_changed=tuple(TypeChange(n, in_a[n], in_b[n]) for n in common if in_a[n] != in_b[n]),
    )
    return diff, common


@dataclass(frozen=True)
class Pair:
    a: float | None
    b: float | None

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b}


@dataclass(frozen=True)
class ColumnDiff:
    name: str
    null_rate: Pair
    # Numeric columns only (numeric on both sides); None otherwise.
    mean: Pair | None = None
    stddev: Pair | None = None
    quantiles: tuple[Pair, ...] | None = None  # at profile.QUANTILES

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "null_rate": self.null_rate.to_json()}
        if self.mean is not None and self.stddev is not None and self.quantiles is not None:
            out["mean"] = self.mean.to_json()
            out["stddev"] = self.stddev.to_json()
            out["quantiles"] = {
                name: q.to_json() for name, q in zip(QUANTILE_NAMES, self.quantiles, strict=True)
            }
        return out


def column_diffs(
    common: list[str], numeric: set[str], pa: Profile, pb: Profile
) -> tuple[ColumnDiff, ...]:
    out = []
    for name in common:
        ca, cb = pa.columns[name], pb.columns[name]
        null_rate = Pair(_null_rate(pa.rows, ca.non_null), _null_rate(pb.rows, cb.non_null))
        if name not in numeric:
            out.append(ColumnDiff(name, null_rate))
            continue
        qa = ca.quantiles or (None,) * len(QUANTILE_NAMES)
        qb = cb.quantiles or (None,) * len(QUANTILE_NAMES)
        out.append(
            ColumnDiff(
                name,
                null_rate,
                mean=Pair(stat(ca.mean), stat(cb.mean)),
                stddev=Pair(stat(ca.stddev), stat(cb.stddev)),
                quantiles=tuple(Pair(stat(x), stat(y)) for x, y in zip(qa, qb, strict=True)),
            )
        )
    return tuple(out)


def _null_rate(rows: int, non_null: int) -> float | None:
    return round((rows - non_null) / rows, 6) if rows else None
