"""`predictions export`: a Hive-partitioned Parquet dataset DuckDB reads as one table, and JSONL
that `predictions import` reads back; segments are checked before they are read."""

from __future__ import annotations

import json

import duckdb
import pytest

from modelledger.core.errors import CheckFailed, InvalidInput
from modelledger.predictions.export import export
from modelledger.predictions.importer import import_file
from modelledger.predictions.ingest import log_predictions
from tests.predictions.conftest import count, rec

ENV = "production"


def _log(ledger, live):
    records = [
        rec(
            live["v1"],
            request_id=f"e-{i}",
            served_at=f"2026-11-{20 + i % 3}T10:00:00Z",
            features={"amount": 10.5 * i, "country": "de" if i % 2 else "fr"},
            confidence=0.5 + i / 100,
            latency_ms=1.0 + i,
        )
        for i in range(9)
    ]
    records.append(rec(live["v1"], request_id="no-features", served_at="2026-11-22T11:00:00Z"))
    log_predictions(ledger, records, ENV)
    return records


def test_parquet_export_is_hive_partitioned_and_reads_as_one_table(ledger, live, tmp_path):
    _log(ledger, live)
    out = tmp_path / "dataset"
    result = export(ledger, ENV, out)
    assert result.rows == 10
    assert result.partitions == [
        f"env={ENV}/date=2026-11-20",
        f"env={ENV}/date=2026-11-21",
        f"env={ENV}/date=2026-11-22",
    ]
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT request_id, env, date, version_id, amount, country, output, event_seq "
        f"FROM read_parquet('{out}/**/*.parquet', hive_partitioning = true) ORDER BY request_id"
    ).fetchall()
    assert len(rows) == 10
    first = rows[0]
    assert first[0] == "e-0" and first[1] == ENV and str(first[2]) == "2026-11-20"
    assert first[3] == live["v1"].id and first[4] == 0.0 and first[5] == "fr"
    assert json.loads(first[6]) == {"label": 1, "score": 0.93} and first[7] is not None
    assert next(r for r in rows if r[0] == "no-features")[4] is None
    window = export(ledger, ENV, tmp_path / "w", since="2026-11-21T00:00:00Z",
                    until="2026-11-22T00:00:00Z")  # fmt: skip
    assert window.rows == 3 and window.partitions == [f"env={ENV}/date=2026-11-21"]


def test_jsonl_export_imports_back_into_another_environment(ledger, live, tmp_path):
    from modelledger.releases import environments as envs
    from tests.people import promote_approved

    sent = _log(ledger, live)
    out = tmp_path / "log.jsonl"
    assert export(ledger, ENV, out, fmt="jsonl").rows == 10
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    by_id = {line["request_id"]: line for line in lines}
    assert by_id["e-3"]["features"] == sent[3]["features"]
    assert by_id["e-3"]["output"] == {"label": 1, "score": 0.93}
    assert by_id["no-features"]["features"] is None
    envs.create(ledger, "replay")
    promote_approved(ledger, live["v1"].id, "replay")
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_text(
        "".join(
            json.dumps(
                {
                    **{k: v for k, v in line.items() if v is not None},
                    "request_id": "copy-" + line["request_id"],
                }
            )
            + "\n"
            for line in lines
        )
    )
    assert import_file(ledger, renamed, "replay").count == 10
    assert count(ledger) == 20


def test_refusals_and_a_corrupt_segment(ledger, live, tmp_path):
    _log(ledger, live)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InvalidInput, match="not an empty folder"):
        export(ledger, ENV, tmp_path / "full")
    with pytest.raises(InvalidInput, match="--format"):
        export(ledger, ENV, tmp_path / "o", fmt="csv")
    with pytest.raises(InvalidInput, match="not after"):
        export(ledger, ENV, tmp_path / "o", since="1h", until="2h")
    from modelledger.predictions.store.reads import segments

    with ledger.db.read() as conn:
        [segment] = segments(conn, ENV)
    path = ledger.blobs.path(segment["id"])
    import os

    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(40)
        f.write(b"\x00\x01\x02")
    with pytest.raises(CheckFailed, match="corrupt"):
        export(ledger, ENV, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
