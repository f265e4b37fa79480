"""Keyed row diff: rows added, removed and changed between two tables that share a key.

Keys are matched NULL-safely (a NULL key equals a NULL key). A key that occurs more than once on
either side cannot say which row became which, so such keys are counted and left out of the
"changed" comparison — also keeping a hot duplicate from multiplying the join.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelledger.tabular.reading import Reader, Source
from modelledger.tabular.sql import ident
from modelledger.tabular.values import json_value


@dataclass(frozen=True)
class ChangedRow:
    key: dict[str, Any]
    columns: dict[str, tuple[Any, Any]]  # only the columns that differ: (a, b)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "columns": {k: list(v) for k, v in self.columns.items()}}


@dataclass(frozen=True)
class KeyedDiff:
    key: tuple[str, ...]
    compared: tuple[str, ...]  # non-key columns present on both sides
    added: int  # rows of B whose key is not in A
    removed: int  # rows of A whose key is not in B
    changed: int  # keys unique on both sides whose compared columns differ
    duplicate_keys_a: int  # distinct key values occurring more than once in A
    duplicate_keys_b: int
    added_sample: tuple[dict[str, Any], ...] = field(default=())
    removed_sample: tuple[dict[str, Any], ...] = field(default=())
    changed_sample: tuple[ChangedRow, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "compared": list(self.compared),
            "added": {"count": self.added, "sample": list(self.added_sample)},
            "removed": {"count": self.removed, "sample": list(self.removed_sample)},
            "changed": {
                "count": self.changed,
                "sample": [c.to_json() for c in self.changed_sample],
            },
            "duplicate_keys": {"a": self.duplicate_keys_a, "b": self.duplicate_keys_b},
        }


def keyed_diff(
    reader: Reader, a: Source, b: Source, key: list[str], compared: list[str], sample: int
) -> KeyedDiff:
    a.require(key, "--key")
    b.require(key, "--key")
    on = " AND ".join(
        f"{_expr(a, b, 'x', k)} IS NOT DISTINCT FROM {_expr(a, b, 'y', k)}" for k in key
    )
    order = ", ".join(f"{ident(k)} NULLS FIRST" for k in key)

    def only_in(left: Source, right: Source) -> tuple[int, tuple[dict[str, Any], ...]]:
        # ``on`` is symmetric in x and y, so it serves both directions.
        anti = f"FROM {left.view} AS x ANTI JOIN {right.view} AS y ON {on}"
        count = int(reader.fetchone(f"SELECT count(*) {anti}")[0])
        rows: tuple[dict[str, Any], ...] = ()
        if count and sample > 0:
            found = reader.fetchall(f"SELECT x.* {anti} ORDER BY {order} LIMIT {int(sample)}")
            rows = tuple(
                {n: json_value(v) for n, v in zip(left.names, r, strict=True)} for r in found
            )
        return count, rows

    removed, removed_sample = only_in(a, b)
    added, added_sample = only_in(b, a)

    group = ", ".join(ident(k) for k in key)
    duplicates = [
        int(
            reader.fetchone(
                f"SELECT count(*) FROM (SELECT 1 FROM {s.view} GROUP BY {group} HAVING count(*) > 1)"
            )[0]
        )
        for s in (a, b)
    ]

    changed = 0
    changed_sample: tuple[ChangedRow, ...] = ()
    if compared:
        differs = [
            f"{_expr(a, b, 'x', c)} IS DISTINCT FROM {_expr(a, b, 'y', c)}" for c in compared
        ]
        unique = f"QUALIFY count(*) OVER (PARTITION BY {group}) = 1"
        joined = (
            f"FROM (SELECT * FROM {a.view} {unique}) AS x "
            f"JOIN (SELECT * FROM {b.view} {unique}) AS y ON {on} "
            f"WHERE {' OR '.join(differs)}"
        )
        changed = int(reader.fetchone(f"SELECT count(*) {joined}")[0])
        if changed and sample > 0:
            picked = [f"x.{ident(k)}" for k in key]
            for c in compared:
                picked += [f"x.{ident(c)}", f"y.{ident(c)}"]
            picked += differs
            x_order = ", ".join(f"x.{ident(k)} NULLS FIRST" for k in key)
            found = reader.fetchall(
                f"SELECT {', '.join(picked)} {joined} ORDER BY {x_order} LIMIT {int(sample)}"
            )
            changed_sample = tuple(_changed_row(r, key, compared) for r in found)

    return KeyedDiff(
        key=tuple(key),
        compared=tuple(compared),
        added=added,
        removed=removed,
        changed=changed,
        duplicate_keys_a=duplicates[0],
        duplicate_keys_b=duplicates[1],
        added_sample=added_sample,
        removed_sample=removed_sample,
        changed_sample=changed_sample,
    )


def _expr(a: Source, b: Source, alias: str, name: str) -> str:
    """``alias.name``, cast to VARCHAR when the two tables disagree on its type so the
    comparison means "prints the same" rather than failing on an impossible cast."""
    column = f"{alias}.{ident(name)}"
    if a.type_of(name) != b.type_of(name):
        return f"CAST({column} AS VARCHAR)"
    return column


def _changed_row(row: tuple[Any, ...], key: list[str], compared: list[str]) -> ChangedRow:
    values = list(row)
    keys = {k: json_value(values.pop(0)) for k in key}
    pairs = [(values.pop(0), values.pop(0)) for _ in compared]
    flags = values
    return ChangedRow(
        key=keys,
        columns={
            c: (json_value(va), json_value(vb))
            for c, (va, vb), differs in zip(compared, pairs, flags, strict=True)
            if differs
        },
    )
