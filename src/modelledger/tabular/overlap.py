"""Leakage check: how many evaluation rows also occur in the training data.

Rows are compared on a normalised form — each used column cast to text, trimmed and lower-cased,
in sorted column order — so "Alice " in one file and "alice" in another, or the same columns in a
different order, count as the same row. The normalised values are put in a list and serialised
with to_json (quoting and escaping keep ``['a,b']`` apart from ``['a', 'b']`` and NULL apart from
the text 'null'), then hashed with 128-bit md5: the 64-bit hash() would expect collisions among
tens of millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelledger.core.errors import InvalidInput
from modelledger.tabular.reading import Reader, Source, with_reader
from modelledger.tabular.sql import ident, trimmed_text
from modelledger.tabular.table import Table
from modelledger.tabular.values import json_value


@dataclass(frozen=True)
class Overlap:
    columns: tuple[str, ...]  # the columns rows were compared on, in the sorted order used
    eval_rows: int
    train_rows: int
    overlapping_rows: int  # eval rows whose normalised row also occurs in some train table
    overlapping_distinct: int  # distinct normalised rows among those
    sample: tuple[dict[str, Any], ...]  # overlapping eval rows, as read (not normalised)

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "eval_rows": self.eval_rows,
            "train_rows": self.train_rows,
            "overlapping_rows": self.overlapping_rows,
            "overlapping_distinct": self.overlapping_distinct,
            "sample": list(self.sample),
        }


def overlap(
    eval_tables: list[Table],
    train_tables: list[Table],
    *,
    key: list[str] | None = None,
    columns: list[str] | None = None,
    sample: int = 5,
) -> Overlap:
    """Count eval rows that also appear in train, comparing ``key`` columns if given, else
    ``columns`` if given, else the columns every table has."""
    if not eval_tables or not train_tables:
        raise InvalidInput("overlap needs at least one eval table and one train table")
    if sample < 0:
        raise InvalidInput(f"sample must be 0 or more, got {sample}")
    return with_reader(
        lambda reader: _overlap(reader, eval_tables, train_tables, key, columns, sample)
    )


def _overlap(
    reader: Reader,
    eval_tables: list[Table],
    train_tables: list[Table],
    key: list[str] | None,
    columns: list[str] | None,
    sample: int,
) -> Overlap:
    evals = [reader.open(t) for t in eval_tables]
    trains = [reader.open(t) for t in train_tables]
    used = _used_columns(evals + trains, key, columns)

    def hashed(sources: list[Source]) -> str:
        return " UNION ALL ".join(f"SELECT {_row_hash(used)} AS h FROM {s.view}" for s in sources)

    reader.fetchall(
        f"CREATE TEMP TABLE train_h AS SELECT h, count(*) AS n FROM ({hashed(trains)}) GROUP BY h"
    )
    train_rows = int(reader.fetchone("SELECT coalesce(sum(n), 0) FROM train_h")[0])
    # train_h holds each hash once, so the left join never multiplies eval rows.
    eval_rows, overlapping, distinct = (
        int(x)
        for x in reader.fetchone(
            f"SELECT count(*), count(t.h), count(DISTINCT t.h) "
            f"FROM ({hashed(evals)}) AS e LEFT JOIN train_h AS t ON e.h = t.h"
        )
    )
    rows: list[dict[str, Any]] = []
    if overlapping:
        picked = ", ".join(ident(c) for c in used)
        for source in evals:
            if len(rows) >= sample:
                break
            found = reader.fetchall(
                f"SELECT {picked} FROM (SELECT *, {_row_hash(used)} AS h FROM {source.view}) "
                f"SEMI JOIN train_h USING (h) ORDER BY h LIMIT {int(sample - len(rows))}"
            )
            rows += [{c: json_value(v) for c, v in zip(used, r, strict=True)} for r in found]
    return Overlap(
        columns=tuple(used),
        eval_rows=eval_rows,
        train_rows=train_rows,
        overlapping_rows=overlapping,
        overlapping_distinct=distinct,
        sample=tuple(rows),
    )


def _used_columns(
    sources: list[Source], key: list[str] | None, columns: list[str] | None
) -> list[str]:
    requested, option = (key, "--key") if key else (columns, "--columns")
    if requested:
        for source in sources:
            source.require(requested, option)
        return sorted(set(requested))
    common = set(sources[0].names)
    for source in sources[1:]:
        common &= set(source.names)
    if not common:
        labels = ", ".join(s.label for s in sources)
        raise InvalidInput(f"no column is common to all of {labels}; pass --key or --columns")
    return sorted(common)


def _row_hash(used: list[str]) -> str:
    values = ", ".join(f"lower({trimmed_text(ident(c))})" for c in used)
    return f"md5_number(to_json(list_value({values})))"
