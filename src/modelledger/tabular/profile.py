"""One pass over a table: row count, null counts, means, spreads, quantiles and cardinalities.

Everything a diff needs to know before deciding which columns to count categories of is gathered
in a single aggregate query per table, because on large Parquet files each scan costs ~0.1–1 s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from modelledger.tabular.reading import Reader, Source
from modelledger.tabular.sql import ident, literal

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
QUANTILE_NAMES = ("p05", "p25", "p50", "p75", "p95")
# Exact quantiles keep every value of a column in memory (8 bytes each) and cannot spill; past
# this many values per table we fall back to t-digest, whose figures vary in the last digits
# between runs because threads merge their digests in whatever order they finish.
EXACT_QUANTILE_VALUES = 32_000_000
GZIP_RATIO = 10  # a guess at how much a gzipped CSV expands, to bound its values


@dataclass(frozen=True)
class ColumnProfile:
    non_null: int
    mean: float | None = None  # numeric columns only
    stddev: float | None = None
    quantiles: tuple[float | None, ...] | None = None  # at QUANTILES
    approx_distinct: int | None = None  # category candidates only (HyperLogLog)


@dataclass(frozen=True)
class Profile:
    rows: int
    columns: dict[str, ColumnProfile]


def exact_quantiles_fit(reader: Reader, sources: list[Source], numeric_columns: int) -> bool:
    """Whether exact quantiles of ``numeric_columns`` columns fit the budget in every table.

    Parquet knows its row count from metadata. For CSV we bound the values from the file size:
    each value takes at least one character and one delimiter.
    """
    if numeric_columns == 0:
        return True
    for source in sources:
        table = source.table
        if table.is_delimited:
            size = os.stat(table.path).st_size
            values = size * (GZIP_RATIO if table.fmt.endswith(".gz") else 1) // 2
        else:
            sql = f"SELECT num_rows FROM parquet_file_metadata({literal(table.path)})"
            values = int(reader.fetchone(sql)[0]) * numeric_columns
        if values > EXACT_QUANTILE_VALUES:
            return False
    return True


def profile(
    reader: Reader,
    source: Source,
    columns: list[str],
    *,
    numeric: set[str],
    distinct: set[str],
    exact_quantiles: bool,
) -> Profile:
    """Profile ``columns`` of ``source``: every one gets a null count, ``numeric`` ones mean,
    standard deviation and quantiles, ``distinct`` ones an approximate distinct count."""
    quantile_list = "[" + ", ".join(str(q) for q in QUANTILES) + "]"
    quantile = "quantile_cont" if exact_quantiles else "approx_quantile"
    select = ["count(*)"]
    for name in columns:
        col = ident(name)
        select.append(f"count({col})")
        if name in numeric:
            as_double = f"CAST({col} AS DOUBLE)"
            select += [
                f"avg({as_double})",
                f"stddev_pop({as_double})",
                f"{quantile}({as_double}, {quantile_list})",
            ]
        if name in distinct:
            select.append(f"approx_count_distinct({col})")
    row = list(reader.fetchone(f"SELECT {', '.join(select)} FROM {source.view}"))
    rows = int(row.pop(0))
    out: dict[str, ColumnProfile] = {}
    for name in columns:
        non_null = int(row.pop(0))
        mean = stddev = None
        quantiles: tuple[float | None, ...] | None = None
        approx_distinct = None
        if name in numeric:
            mean, stddev, qs = row.pop(0), row.pop(0), row.pop(0)
            quantiles = None if qs is None else tuple(qs)
        if name in distinct:
            approx_distinct = int(row.pop(0))
        out[name] = ColumnProfile(non_null, mean, stddev, quantiles, approx_distinct)
    return Profile(rows, out)
