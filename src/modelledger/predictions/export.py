"""``mledger predictions export``: the inference log as a dataset other engines read.

Parquet (the default) is written as a Hive-partitioned dataset, ``env=ENV/date=YYYY-MM-DD/…``,
which DuckDB, Spark, Trino and pandas read as one table with ``env`` and ``date`` as columns;
JSONL is one record per line, in the form ``predictions import`` reads back (``output`` as
JSON, ``features`` an object). Each row joins the
predictions table (version, arm, output, confidence, latency, the event that logged it) with its
features from the Parquet segments, whose bytes are checked against their address first.

Parquet columns, in order: ``request_id``, ``mode``, ``version_id``, ``system_id``, ``arm``,
``served_at`` (UTC), ``input_sha256``, ``output`` (JSON text), ``confidence``, ``latency_ms``,
``event_seq``, then one column per feature as the segments typed it; ``env`` and ``date`` are
the partition keys (folder names).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from modelledger.core.clock import format_time
from modelledger.core.errors import InvalidInput
from modelledger.core.stats import parse_since
from modelledger.data.tables import LocalTables
from modelledger.ledger.home import Ledger
from modelledger.predictions.store.reads import segments
from modelledger.predictions.store.window import log_window

FORMATS = ("parquet", "jsonl")
_FIXED = (
    "request_id",
    "mode",
    "version_id",
    "system_id",
    "arm",
    "served_at",
    "input_sha256",
    "output_json",
    "confidence",
    "latency_ms",
    "event_seq",
)
_CHUNK = 50_000
EPOCH = "1970-01-01T00:00:00.000000Z"  # no --since: the whole log


@dataclass(frozen=True)
class Exported:
    env: str
    since: str
    until: str | None
    rows: int
    format: str
    target: str
    partitions: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "since": self.since,
            "until": self.until,
            "rows": self.rows,
            "format": self.format,
            "target": self.target,
            "partitions": self.partitions,
        }


def export(
    ledger: Ledger,
    env: str,
    target: Path,
    *,
    since: str | None = None,
    until: str | None = None,
    fmt: str = "parquet",
    advance: Callable[[int], None] | None = None,
) -> Exported:
    """Write ``env``'s predictions served in [since, until) to ``target`` (a folder for Parquet,
    which must not exist or be empty; a file for JSONL)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    moment = datetime.now(UTC)
    start = EPOCH if since is None else format_time(parse_since(since, moment, "--since"))
    end = None if until is None else format_time(parse_since(until, moment, "--until"))
    if end is not None and end <= start:
        raise InvalidInput(f"--until {until!r} is not after --since {since!r}")
    _check_target(target, fmt)
    from modelledger.tabular import connect

    con = connect()
    try:
        with ledger.db.read(consistent=True) as conn:
            from modelledger.releases.environments import require_env

            require_env(conn, env)
            rows = _load_rows(con, conn, env, start, end, advance)
            found = [
                s
                for s in segments(conn, env)
                if s["last_served_at"] >= start and (end is None or s["first_served_at"] < end)
            ]
        with LocalTables(ledger) as local:
            paths = [local.checked_path(s["id"], "prediction segment") for s in found]
            names = _features(con, paths)
            if fmt == "jsonl":
                _write_jsonl(con, _select(names, env, lines=True), target)
                parts: list[str] = []
            else:
                parts = _write_parquet(con, _select(names, env, lines=False), target)
    finally:
        con.close()
    return Exported(env, start, end, rows, fmt, str(target), parts)


def _check_target(target: Path, fmt: str) -> None:
    if fmt == "parquet":
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise InvalidInput(f"{target}: exists and is not an empty folder")
    elif target.is_dir():
        raise InvalidInput(f"{target}: is a folder (JSONL goes to a file)")


def _load_rows(con: Any, conn: Any, env: str, since: str, until: str | None, advance: Any) -> int:
    """The predictions rows of the window, into DuckDB's table ``logged``, chunk by chunk."""
    window = log_window(conn, env, since, until)
    where, params = window.where(conn.dialect.name)
    from sqlalchemy import text

    cols = ", ".join(f"p.{c}" for c in _FIXED)
    result = conn.execution_options(stream_results=True).execute(
        text(f"SELECT {cols} FROM predictions p WHERE {where} ORDER BY p.served_at"), params
    )
    con.execute(
        "CREATE TEMP TABLE logged (request_id VARCHAR, mode VARCHAR, version_id VARCHAR, "
        "system_id VARCHAR, arm VARCHAR, served_at VARCHAR, input_sha256 VARCHAR, "
        "output_json VARCHAR, confidence DOUBLE, latency_ms DOUBLE, event_seq BIGINT)"
    )
    total = 0
    while chunk := result.fetchmany(_CHUNK):
        columns = list(zip(*chunk, strict=True))
        frame = {
            name: np.asarray(
                values,
                dtype=np.float64 if name in ("confidence", "latency_ms") else object,
            )
            for name, values in zip(_FIXED, columns, strict=True)
        }
        frame["confidence"] = _floats(columns[8])
        frame["latency_ms"] = _floats(columns[9])
        con.register("chunk", frame)
        con.execute("INSERT INTO logged SELECT * FROM chunk")
        con.unregister("chunk")
        total += len(chunk)
        if advance is not None:
            advance(len(chunk))
    return total


def _floats(values: tuple[Any, ...]) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


def _features(con: Any, paths: list[str]) -> list[str]:
    """The feature columns of the segments (view ``features``), in their order."""
    if not paths:
        return []
    files = "[" + ", ".join(_quote(p) for p in paths) + "]"
    con.execute(
        f"CREATE TEMP VIEW features AS SELECT * FROM read_parquet({files}, union_by_name = true)"
    )
    return [
        str(r[0])
        for r in con.execute("DESCRIBE SELECT * FROM features").fetchall()
        if str(r[0]) not in ("request_id", "mode", "version_id", "served_at")
    ]


def _select(names: list[str], env: str, lines: bool) -> str:
    """The export's rows: logged rows joined to their features (NULL where none were sent).
    ``lines``: the record form ``predictions import`` reads (output as JSON, features an
    object); else flat columns with the Hive partition keys."""
    nan_null = "CASE WHEN isnan(l.{0}) THEN NULL ELSE l.{0} END AS {0}"
    common = (
        "l.request_id, l.mode, l.version_id, l.system_id, l.arm, "
        f"{{served}}, l.input_sha256, {{output}}, {nan_null.format('confidence')}, "
        f"{nan_null.format('latency_ms')}"
    )
    source = "logged l"
    if names:
        source += (
            " LEFT JOIN features f ON f.request_id = l.request_id AND f.mode = l.mode "
            "AND f.version_id = l.version_id"
        )
    if lines:
        cols = common.format(served="l.served_at", output="json(l.output_json) AS output")
        if names:
            packed = ", ".join(f"{_ident(n)} := f.{_ident(n)}" for n in names)
            cols += f", CASE WHEN f.request_id IS NULL THEN NULL ELSE struct_pack({packed}) END AS features"
        return f"SELECT {cols} FROM {source} ORDER BY l.served_at"
    served = "CAST(l.served_at AS TIMESTAMPTZ)"
    cols = common.format(served=f"{served} AS served_at", output="l.output_json AS output")
    cols += ", l.event_seq" + "".join(f", f.{_ident(n)}" for n in names)
    cols += f", {_quote(env)} AS env, strftime({served} AT TIME ZONE 'UTC', '%Y-%m-%d') AS date"
    return f"SELECT {cols} FROM {source}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _write_parquet(con: Any, select: str, target: Path) -> list[str]:
    """Written beside the target and moved into place whole: a failed export leaves nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        out = staging / "dataset"
        con.execute(
            f"COPY ({select}) TO {_quote(str(out))} "
            "(FORMAT PARQUET, PARTITION_BY (env, date), COMPRESSION ZSTD)"
        )
        if not out.exists():
            out.mkdir()
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(out, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(str(p.relative_to(target)) for p in target.glob("env=*/date=*") if p.is_dir())


def _write_jsonl(con: Any, select: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        con.execute(f"COPY ({select}) TO {_quote(str(tmp))} (FORMAT JSON)")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
