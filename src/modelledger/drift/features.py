"""Feature columns as a drift check needs them, read with DuckDB from any relation (a training
table's view, or the inference log's Parquet segments): numeric columns as float arrays (nulls as
NaN) in one scan, categorical ones as (value, count) pairs, and rows joined to outside keys.

Only aggregates and the columns asked for leave DuckDB, so a million-row window costs a few
column reads, not a million Python objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt

from modelledger.tabular.sql import ident, literal

FloatArray = npt.NDArray[np.float64]
_SEGMENT_FIXED = ("request_id", "mode", "version_id", "served_at")


def numeric_columns(
    con: duckdb.DuckDBPyConnection, relation: str, names: Sequence[str]
) -> dict[str, FloatArray]:
    """The columns cast to DOUBLE (a value that is not a number becomes null), nulls as NaN."""
    if not names:
        return {}
    select = ", ".join(f"TRY_CAST({ident(n)} AS DOUBLE) AS c{i}" for i, n in enumerate(names))
    found = con.execute(f"SELECT {select} FROM {relation}").fetchnumpy()
    out: dict[str, FloatArray] = {}
    for i, name in enumerate(names):
        column: Any = found[f"c{i}"]
        if isinstance(column, np.ma.MaskedArray):  # nulls come back masked
            column = np.ma.filled(column.astype(np.float64), np.nan)
        out[name] = np.asarray(column, dtype=np.float64)
    return out


def binned_counts(
    con: duckdb.DuckDBPyConnection, relation: str, edges: Mapping[str, Sequence[float]]
) -> dict[str, tuple[list[int], int]]:
    """Per column, the values counted into the bins its ``edges`` close — (e[i-1], e[i]], the
    last bin open above — and how many were null or not a number (NaN, or text that is not a
    number): (counts, nulls). One scan for every column, in DuckDB, never materialising them."""
    if not edges:
        return {}
    casts = ", ".join(f"TRY_CAST({ident(name)} AS DOUBLE) AS x{i}" for i, name in enumerate(edges))
    parts = []
    for i, cuts in enumerate(edges.values()):
        bounds = ", ".join([*(repr(float(e)) for e in cuts), "'infinity'::DOUBLE"])
        parts.append(f"histogram(x{i}, [{bounds}]) FILTER (WHERE NOT isnan(x{i}))")
        parts.append(f"count(*) FILTER (WHERE x{i} IS NULL OR isnan(x{i}))")
    relation = f"(SELECT {casts} FROM {relation})"
    row = con.execute(f"SELECT {', '.join(parts)} FROM {relation}").fetchone()
    assert row is not None
    out: dict[str, tuple[list[int], int]] = {}
    for i, (name, cuts) in enumerate(edges.items()):
        found = row[2 * i] or {}
        closing = [*(float(e) for e in cuts), float("inf")]
        out[name] = ([int(found.get(b, 0)) for b in closing], int(row[2 * i + 1]))
    return out


def value_counts(con: duckdb.DuckDBPyConnection, relation: str, name: str) -> list[tuple[Any, int]]:
    """(value, count) of one column, the null value included as None."""
    col = ident(name)
    rows = con.execute(f"SELECT {col}, count(*) FROM {relation} GROUP BY {col}").fetchall()
    return [(value, int(n)) for value, n in rows]


def distinct_counts(
    con: duckdb.DuckDBPyConnection, relation: str, names: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """Per column: (approximate distinct values, non-null values), in one scan."""
    if not names:
        return {}
    select = ", ".join(f"approx_count_distinct({ident(n)}), count({ident(n)})" for n in names)
    row = con.execute(f"SELECT {select} FROM {relation}").fetchone()
    assert row is not None
    return {n: (int(row[2 * i]), int(row[2 * i + 1])) for i, n in enumerate(names)}


def row_count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])  # type: ignore[index]


def non_null_counts(
    con: duckdb.DuckDBPyConnection, relation: str, names: Sequence[str]
) -> dict[str, int]:
    if not names:
        return {}
    select = ", ".join(f"count({ident(n)})" for n in names)
    row = con.execute(f"SELECT {select} FROM {relation}").fetchone()
    assert row is not None
    return {n: int(v) for n, v in zip(names, row, strict=True)}


def columns_of(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Column name → DuckDB type."""
    return {
        str(r[0]): str(r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    }


def segment_view(
    con: duckdb.DuckDBPyConnection, name: str, paths: Sequence[str], since: str, until: str
) -> None:
    """``name``: the served rows of the segments with ``since <= served_at < until``."""
    if not paths:
        con.execute(
            f"CREATE TEMP VIEW {ident(name)} AS SELECT NULL::VARCHAR AS request_id, "
            "NULL::VARCHAR AS mode, NULL::VARCHAR AS version_id, "
            "NULL::TIMESTAMPTZ AS served_at WHERE false"
        )
        return
    files = "[" + ", ".join(literal(p) for p in paths) + "]"
    con.execute(
        f"CREATE TEMP VIEW {ident(name)} AS SELECT * FROM read_parquet({files}, "
        "union_by_name = true) WHERE mode = 'served' "
        f"AND served_at >= CAST({literal(since)} AS TIMESTAMPTZ) "
        f"AND served_at < CAST({literal(until)} AS TIMESTAMPTZ)"
    )


def version_view(con: duckdb.DuckDBPyConnection, name: str, source: str, version_id: str) -> None:
    con.execute(
        f"CREATE TEMP VIEW {ident(name)} AS SELECT * FROM {ident(source)} "
        f"WHERE version_id = {literal(version_id)}"
    )


def feature_names(columns: dict[str, str]) -> list[str]:
    return [c for c in columns if c not in _SEGMENT_FIXED]


def join_keys(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    keys: Sequence[str],
    flags: Sequence[int],
    names: Sequence[str],
) -> list[tuple[Any, ...]]:
    """(flag, *columns) for every row of ``relation`` whose request_id is among ``keys`` (each
    key carrying its flag, e.g. 1 for a correct prediction)."""
    if not keys:
        return []
    table = {
        "request_id": np.asarray(keys, dtype=object),
        "flag": np.asarray(flags, dtype=np.int64),
    }
    con.register("judged_keys", table)
    try:
        columns = "".join(f", r.{ident(n)}" for n in names)
        return con.execute(
            f"SELECT j.flag{columns} FROM judged_keys j JOIN {relation} r "
            "ON r.request_id = j.request_id"
        ).fetchall()
    finally:
        con.unregister("judged_keys")
