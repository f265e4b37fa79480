"""`predictions publish`: the inference log as a Hive dataset inside the blob store, read in
place by DuckDB; each day replaced whole, and only the days from the last published on."""

from __future__ import annotations

import os

import duckdb

from modelledger.predictions.ingest import log_predictions
from modelledger.predictions.publish import dataset_root, publish
from tests.conftest import jrun
from tests.predictions.conftest import rec

ENV = "production"


def _log(ledger, live, day, n, prefix):
    records = [
        rec(
            live["v1"],
            request_id=f"{prefix}-{i}",
            served_at=f"{day}T{10 + i % 10:02d}:00:00Z",
            features={"amount": 1.5 * i},
        )
        for i in range(n)
    ]
    log_predictions(ledger, records, ENV)


def _read(root):
    con = duckdb.connect()
    return con.execute(
        f"SELECT env, CAST(date AS VARCHAR) AS day, count(*), sum(amount) "
        f"FROM read_parquet('{root}/*/*/*.parquet', hive_partitioning = true) "
        "GROUP BY ALL ORDER BY day"
    ).fetchall()


def test_publish_writes_one_file_per_day_in_the_store_and_duckdb_reads_it(ledger, live):
    _log(ledger, live, "2026-11-20", 30, "a")
    _log(ledger, live, "2026-11-21", 20, "b")
    first = publish(ledger, ENV)
    root = dataset_root(ledger)
    assert root.startswith(str(ledger.blobs.root)) and first.days == ["2026-11-20", "2026-11-21"]
    assert _read(root) == [(ENV, "2026-11-20", 30, 652.5), (ENV, "2026-11-21", 20, 285.0)]
    files = sorted(p for p in os.listdir(f"{root}/env={ENV}"))
    assert files == ["date=2026-11-20", "date=2026-11-21"]
    assert os.listdir(f"{root}/env={ENV}/date=2026-11-20") == ["data.parquet"]
    day_one = os.stat(f"{root}/env={ENV}/date=2026-11-20/data.parquet")

    # more of the last day and a new one: only those two are rewritten
    _log(ledger, live, "2026-11-21", 5, "c")
    _log(ledger, live, "2026-11-22", 4, "d")
    again = publish(ledger, ENV)
    assert again.days == ["2026-11-21", "2026-11-22"] and again.rows == 29
    assert os.stat(f"{root}/env={ENV}/date=2026-11-20/data.parquet").st_ino == day_one.st_ino
    assert [r[2] for r in _read(root)] == [30, 25, 4]
    assert publish(ledger, ENV, rebuild=True).days == ["2026-11-20", "2026-11-21", "2026-11-22"]
    assert [r[2] for r in _read(root)] == [30, 25, 4]


def test_publish_from_the_cli(ledger, live, cli):
    _log(ledger, live, "2026-11-20", 3, "a")
    out = jrun(cli, "predictions", "publish", ENV)
    assert out["days"] == ["2026-11-20"] and out["rows"] == 3
    assert (
        "no environment named 'staging'" in cli("predictions", "publish", "staging", code=2).stderr
    )
