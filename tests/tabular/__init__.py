"""Helpers for the tabular tests: files are written like blobs, with no extension, so every test
also proves the format passed in ``Table.fmt`` is what decides how a file is read."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb

from modelledger.tabular import Table


def csv_table(
    tmp_path: Path, name: str, text: str, *, fmt: str = "csv", label: str | None = None
) -> Table:
    path = tmp_path / f"blob-{name}"
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if fmt.endswith(".gz") else data)
    return Table(str(path), fmt, label or f"snap/{name}.{fmt}")


def parquet_table(tmp_path: Path, name: str, select: str, *, label: str | None = None) -> Table:
    """A Parquet file holding the rows of ``select`` (DuckDB SQL)."""
    path = tmp_path / f"blob-{name}"
    con = duckdb.connect()
    try:
        con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
    finally:
        con.close()
    return Table(str(path), "parquet", label or f"snap/{name}.parquet")
