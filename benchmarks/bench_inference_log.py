"""Inference log: ingest throughput and the audit lookup (issue: Serving by pinned version, 4-5).

Targets: inference-log ingest ≥ 100,000 predictions/s into SQLite and ≥ 50,000/s into PostgreSQL
(``log_predictions``: validation, input hashing, the Parquet feature segment and the bulk insert,
in one transaction per call); ``audit prediction`` over 10 million logged predictions in ≤ 10 ms
in-process and ≤ 200 ms as a whole ``mledger audit prediction ID --json`` process.

The 10 million rows are written by the database itself (a recursive CTE on SQLite,
generate_series on PostgreSQL), indexes built after, so the run takes minutes, not hours.
PostgreSQL runs in a schema created for the run and dropped after it.

    python benchmarks/bench_inference_log.py [--records 1000000] [--calls 10] [--rows 10000000]
        [--lookups 200] [--no-pg]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from unapproved import create_unapproved

from modelledger.ledger.home import Ledger, init_ledger, open_ledger
from modelledger.models.register import RegisterRequest, register
from modelledger.predictions.audit import audit_prediction
from modelledger.predictions.importer import import_file
from modelledger.predictions.ingest import log_predictions
from modelledger.releases.promote import promote
from modelledger.settings import Settings

SQLITE_TARGET = 100_000
PG_TARGET = 50_000
LOOKUP_TARGET_MS = 10.0
PROCESS_TARGET_MS = 200.0
ENV = "production"
PG_URL = os.environ.get("MLEDGER_TEST_PG_URL", "postgresql+psycopg://postgres@localhost:5432/test")
ROWS_PER_SECOND = 1000  # served_at spacing of the generated history


def ok(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def fresh(home: Path) -> Ledger:
    return open_ledger(Settings(home=home / ".mledger"))


def setup(home: Path, db_url: str | None) -> str:
    """A ledger with one promoted version; returns its id."""
    init_ledger(home, db_url=db_url)
    with fresh(home) as ledger:
        artifact = home / "model.bin"
        artifact.write_bytes(b"fraud weights")
        req = RegisterRequest(
            name="fraud", artifact=artifact, code_ref="git+https://example.com/fraud@abc123"
        )
        version = register(ledger, req).version
        create_unapproved(ledger, ENV)
        promote(ledger, version.id, ENV, reason="benchmark")
        return version.id


def records(version_id: str, n: int, seed: int) -> list[dict[str, Any]]:
    """What a serving process hands the logger: output, confidence, latency and a few features;
    request ids and served_at are filled in by the log."""
    rng = random.Random(seed)
    countries = ("de", "fr", "us", "br", "in")
    return [
        {
            "version_id": version_id,
            "output": {"label": i & 1, "score": round(rng.random(), 4)},
            "confidence": round(rng.random(), 4),
            "latency_ms": round(rng.uniform(1, 20), 3),
            "features": {
                "amount": round(rng.uniform(1, 2000), 2),
                "country": countries[i % 5],
                "age": rng.randint(18, 90),
                "new_user": i % 3 == 0,
                "items": rng.randint(1, 12),
            },
        }
        for i in range(n)
    ]


def bench_ingest(home: Path, version_id: str, total: int, calls: int) -> float:
    """predictions/s over ``calls`` calls of ``total / calls`` records each."""
    per_call = total // calls
    with fresh(home) as ledger:
        log_predictions(ledger, records(version_id, 1000, 0), ENV)  # warm-up: imports, caches
        elapsed = 0.0
        for call in range(calls):
            batch = records(version_id, per_call, call + 1)
            t0 = time.perf_counter()
            report = log_predictions(ledger, batch, ENV)
            elapsed += time.perf_counter() - t0
            assert report.count == per_call, report
    return per_call * calls / elapsed


def bench_import(home: Path, version_id: str, n: int) -> float:
    """``import_file`` of a JSONL file (parsing included), predictions/s."""
    path = home / "predictions.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for record in records(version_id, n, 99):
            out.write(json.dumps(record) + "\n")
    with fresh(home) as ledger:
        t0 = time.perf_counter()
        report = import_file(ledger, path, ENV)
        elapsed = time.perf_counter() - t0
    assert report.count == n
    return n / elapsed


def request_id(i: int) -> str:
    return f"{0xB0000000 + i:032x}"


def fill_sqlite(home: Path, version_id: str, n: int, start: int) -> None:
    """``n`` predictions written by SQLite itself; secondary indexes rebuilt after."""
    import sqlite3

    conn = sqlite3.connect(home / ".mledger" / "ledger.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DROP INDEX ix_predictions_env_served_at")
        conn.execute(
            """
            INSERT INTO predictions (request_id, mode, version_id, env, served_at, input_sha256,
                                     output_json, confidence, latency_ms)
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :n)
            SELECT printf('%032x', 2952790016 + i), 'served', :v, :env,
                   strftime('%Y-%m-%dT%H:%M:%S', :start + i / :per, 'unixepoch')
                       || printf('.%06dZ', (i % :per) * (1000000 / :per)),
                   printf('%064x', i * 2654435761), printf('{"label":%d}', i % 2),
                   (i % 1000) / 1000.0, 3.5
            FROM n
            """,
            {"n": n, "v": version_id, "env": ENV, "per": ROWS_PER_SECOND, "start": start},
        )
        conn.execute("CREATE INDEX ix_predictions_env_served_at ON predictions (env, served_at)")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ANALYZE")
    finally:
        conn.close()


def fill_pg(db_url: str, version_id: str, n: int, start: int) -> None:
    import psycopg

    conninfo, schema = pg_conninfo(db_url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        conn.execute("SET synchronous_commit TO off")
        conn.execute("SET maintenance_work_mem TO '512MB'")
        conn.execute("DROP INDEX ix_predictions_env_served_at")
        conn.execute("ALTER TABLE predictions DROP CONSTRAINT predictions_pkey")
        conn.execute(
            """
            INSERT INTO predictions (request_id, mode, version_id, env, served_at, input_sha256,
                                     output_json, confidence, latency_ms)
            SELECT lpad(to_hex(2952790016 + i), 32, '0'), 'served', %(v)s, %(env)s,
                   to_char(to_timestamp(%(start)s + i / %(per)s) AT TIME ZONE 'UTC',
                           'YYYY-MM-DD"T"HH24:MI:SS')
                       || '.' || lpad(((i %% %(per)s) * (1000000 / %(per)s))::text, 6, '0') || 'Z',
                   lpad(to_hex(i * 2654435761), 64, '0'), '{"label":' || (i %% 2) || '}',
                   (i %% 1000) / 1000.0, 3.5
            FROM generate_series(0, %(n)s - 1) AS i
            """,
            {"n": n, "v": version_id, "env": ENV, "per": ROWS_PER_SECOND, "start": start},
        )
        conn.execute(
            "ALTER TABLE predictions ADD CONSTRAINT predictions_pkey "
            "PRIMARY KEY (request_id, mode, version_id)"
        )
        conn.execute("CREATE INDEX ix_predictions_env_served_at ON predictions (env, served_at)")
        conn.execute("ANALYZE predictions")


def bench_lookup(home: Path, n: int, lookups: int, full_path: bool) -> tuple[float, float]:
    """Median and p90 of ``audit_prediction`` in ms, over random logged request ids. With
    ``full_path`` the ledger's SQLAlchemy engine is open first (so SQLite skips the stdlib path)."""
    rng = random.Random(7)
    ids = [request_id(rng.randrange(n)) for _ in range(lookups)]
    with fresh(home) as ledger:
        if full_path:
            _ = ledger.db
        audit_prediction(ledger, ids[0])  # warm-up
        each = []
        for rid in ids:
            t0 = time.perf_counter()
            found = audit_prediction(ledger, rid)
            each.append((time.perf_counter() - t0) * 1000)
            assert found["request_id"] == rid and found["promotion"] is not None, found
    return statistics.median(each), statistics.quantiles(each, n=10)[-1]


def bench_process(home: Path, n: int, runs: int = 15, env: dict[str, str] | None = None) -> float:
    exe = Path(sys.executable).with_name("mledger")
    base = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}
    base.update(env or {})
    rng = random.Random(11)
    times = []
    for i in range(runs + 1):
        rid = request_id(rng.randrange(n))
        t0 = time.perf_counter()
        done = subprocess.run(
            [str(exe), "audit", "prediction", rid, "--json"],
            cwd=home,
            env=base,
            capture_output=True,
            text=True,
            check=False,
        )
        ms = (time.perf_counter() - t0) * 1000
        if done.returncode != 0 or json.loads(done.stdout)["request_id"] != rid:
            raise SystemExit(f"audit prediction {rid} failed:\n{done.stdout}{done.stderr}")
        if i:  # the first run warms the page cache
            times.append(ms)
    return statistics.median(times)


def pg_conninfo(db_url: str) -> tuple[str, str]:
    base, _, query = db_url.partition("?")
    schema = query.rsplit("%3D", 1)[-1]
    return base.replace("postgresql+psycopg://", "postgresql://"), schema


@contextmanager
def pg_schema() -> Iterator[str | None]:
    """A database URL on a fresh schema (dropped afterwards), or None without a server."""
    import psycopg

    conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=3) as conn:
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        print(f"  PostgreSQL at {PG_URL} not reachable ({exc}); skipping its figures")
        yield None
        return
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def timed(label: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    print(f"  {label} in {time.perf_counter() - t0:.1f} s")
    return out


def run_backend(
    name: str, tmp: Path, db_url: str | None, args: argparse.Namespace
) -> dict[str, float]:
    home = tmp / name
    home.mkdir()
    version_id = setup(home, db_url)
    out: dict[str, float] = {}
    out["ingest"] = bench_ingest(home, version_id, args.records, args.calls)
    out["import"] = bench_import(home, version_id, min(args.records, 200_000))
    # The audit's history: served after the promotion, so each answer has one to show.
    start = int(time.time()) + 1
    if db_url is None:
        fill = lambda: fill_sqlite(home, version_id, args.rows, start)  # noqa: E731
    else:
        fill = lambda: fill_pg(db_url, version_id, args.rows, start)  # noqa: E731
    timed(f"{name}: wrote {args.rows:,} more predictions", fill)
    out["lookup"], out["lookup_p90"] = bench_lookup(home, args.rows, args.lookups, full_path=False)
    out["lookup_sa"], out["lookup_sa_p90"] = bench_lookup(
        home, args.rows, args.lookups, full_path=True
    )
    out["process"] = bench_process(home, args.rows)
    return out


def report(name: str, figures: dict[str, float], target: int, args: argparse.Namespace) -> bool:
    ingest_ok = figures["ingest"] >= target
    lookup_ok = max(figures["lookup"], figures["lookup_sa"]) <= LOOKUP_TARGET_MS
    process_ok = figures["process"] <= PROCESS_TARGET_MS
    print(
        f"{name}: log_predictions, {args.records:,} records in {args.calls} calls: "
        f"{figures['ingest']:,.0f} predictions/s  [target ≥ {target:,}/s: {ok(ingest_ok)}]"
    )
    print(f"{name}: predictions import FILE (JSONL, parsing included): {figures['import']:,.0f}/s")
    print(
        f"{name}: audit prediction over {args.rows:,} predictions, in-process "
        f"({args.lookups} random ids): median {figures['lookup']:.2f} ms "
        f"(p90 {figures['lookup_p90']:.2f}); through SQLAlchemy median "
        f"{figures['lookup_sa']:.2f} ms (p90 {figures['lookup_sa_p90']:.2f})  "
        f"[target ≤ {LOOKUP_TARGET_MS:.0f} ms: {ok(lookup_ok)}]"
    )
    print(
        f"{name}: mledger audit prediction ID --json, whole process (median of 15): "
        f"{figures['process']:.0f} ms  [target ≤ {PROCESS_TARGET_MS:.0f} ms: {ok(process_ok)}]"
    )
    return ingest_ok and lookup_ok and process_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="predictions to ingest")
    parser.add_argument("--calls", type=int, default=10, help="log_predictions calls")
    parser.add_argument("--rows", type=int, default=10_000_000, help="predictions for the audit")
    parser.add_argument("--lookups", type=int, default=200, help="random request ids to audit")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()
    passed = True
    with tempfile.TemporaryDirectory(prefix="mledger-bench-") as tmp:
        figures = run_backend("sqlite", Path(tmp), None, args)
        passed &= report("SQLite", figures, SQLITE_TARGET, args)
        if not args.no_pg:
            with pg_schema() as url:
                if url is not None:
                    pg = run_backend("postgres", Path(tmp), url, args)
                    passed &= report("PostgreSQL", pg, PG_TARGET, args)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
