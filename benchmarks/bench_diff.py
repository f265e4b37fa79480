"""Tabular diff of two dataset snapshots (issue: Data diffs).

Target: `mledger data diff A B --json` of two snapshots each holding one 10M-row Parquet file
(`events.parquet`, same path in both; B lacks the event_type 'cart') in ≤ 5 s as a whole
process, with a peak resident memory ≤ 2 GiB, and its first finding names the vanished category.
The peak is the diff process's own (os.wait4), so nothing else run by the benchmark counts.

    python benchmarks/bench_diff.py [--rows 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from modelledger import client as ml

TIME_TARGET_S = 5.0
PEAK_TARGET_BYTES = 2 << 30
CATEGORIES = ["click", "view", "cart", "buy", "share", "like", "save", "skip"]
VANISHED = "cart"
MLEDGER = Path(sys.executable).with_name("mledger")
MLEDGER_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def diff_available(home: Path) -> tuple[bool, str]:
    proc = subprocess.run(
        [str(MLEDGER), "data", "diff", "--help"],
        cwd=home,
        env=MLEDGER_ENV,
        capture_output=True,
        text=True,
    )
    if proc.returncode == 0:
        return True, ""
    text = proc.stdout + proc.stderr
    if "No such command" in text:
        return False, "mledger data diff not available yet (no such command)"
    return False, f"mledger data diff --help failed (exit {proc.returncode}): {text.strip()[-300:]}"


def write_parquet(path: Path, rows: int, exclude: str | None) -> int:
    """One events table; with ``exclude``, the rows of that category are left out."""
    import duckdb

    path.parent.mkdir(parents=True)
    cats = "[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "]"
    where = f"WHERE event_type <> '{exclude}'" if exclude else ""
    with duckdb.connect() as con:
        con.execute(
            f"""COPY (
                SELECT * FROM (
                    SELECT i AS user_id,
                           {cats}[1 + i % 8] AS event_type,
                           random() AS value,
                           TIMESTAMP '2026-01-01' + to_seconds(i) AS ts,
                           ['fr', 'de', 'us', 'jp', 'br'][1 + (i // 7) % 5] AS country
                    FROM range({rows}) t(i)
                ) {where}
            ) TO '{path}' (FORMAT parquet)"""
        )
        count = con.execute(f"SELECT count(*) FROM '{path}'").fetchone()
    assert count is not None
    return int(count[0])


def run_measured(cmd: list[str], cwd: Path) -> tuple[float, int, int, str, str]:
    """Wall time, exit code, peak RSS in bytes (this process alone, via wait4), stdout, stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=MLEDGER_ENV, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            seconds,
            proc.returncode,
            usage.ru_maxrss * 1024,  # KiB on Linux
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def first_finding(out: Any) -> Any:
    """``tables[0].findings[0]``, tolerating a flat ``findings`` list."""
    if isinstance(out, dict):
        tables = out.get("tables")
        if isinstance(tables, list) and tables and isinstance(tables[0], dict):
            findings = tables[0].get("findings")
            if isinstance(findings, list) and findings:
                return findings[0]
        findings = out.get("findings")
        if isinstance(findings, list) and findings:
            return findings[0]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows in table A")
    parser.add_argument("--repeat", type=int, default=3, help="diff runs (median time, max peak)")
    args = parser.parse_args()
    if args.rows < len(CATEGORIES) or args.repeat < 1:
        parser.error(f"--rows must be ≥ {len(CATEGORIES)} and --repeat ≥ 1")
    with tempfile.TemporaryDirectory(prefix="mledger-bench-diff-") as tmp:
        home = Path(tmp) / "ledger"
        ledger = ml.init(home)
        ok, why = diff_available(home)
        if not ok:
            ledger.close()
            print(f"{why}  [target ≤ {TIME_TARGET_S:.0f} s, ≤ 2 GiB: FAIL]")
            return 1
        free = shutil.disk_usage(tmp).free
        if free < args.rows * 100 + (1 << 30):  # generous: ~20 bytes a row stored, 4 copies
            print(f"FAIL: only {free / (1 << 30):.1f} GiB free in {tmp}")
            return 1
        t0 = time.perf_counter()
        rows_a = write_parquet(home / "a" / "events.parquet", args.rows, None)
        rows_b = write_parquet(home / "b" / "events.parquet", args.rows, VANISHED)
        mib = [(home / d / "events.parquet").stat().st_size / (1 << 20) for d in "ab"]
        print(
            f"  events.parquet: A {rows_a:,} rows ({mib[0]:.0f} MiB), B {rows_b:,} rows "
            f"({mib[1]:.0f} MiB) without '{VANISHED}'; written in {time.perf_counter() - t0:.1f} s"
        )
        try:
            snap_a = ml.snapshot(home / "a", "events", ledger=ledger)
            snap_b = ml.snapshot(home / "b", "events", ledger=ledger)
        except Exception as exc:
            print(f"FAIL: snapshotting the tables failed: {type(exc).__name__}: {exc}")
            return 1
        finally:
            ledger.close()
        os.sync()
        cmd = [str(MLEDGER), "data", "diff", snap_a.id, snap_b.id, "--json"]
        times, peaks = [], []
        out_text = ""
        for i in range(args.repeat):
            seconds, code, peak, out_text, err_text = run_measured(cmd, home)
            if code != 0 and not out_text.strip():
                print(f"FAIL: mledger data diff exited {code}: {err_text.strip()[-500:]}")
                return 1
            times.append(seconds)
            peaks.append(peak)
            note = f" (exit {code})" if code else ""
            print(
                f"  run {i + 1}/{args.repeat}: {seconds:.2f} s, peak RSS {peak / (1 << 20):.0f} MiB{note}"
            )

    median_s, peak = statistics.median(times), max(peaks)
    ok_time, ok_mem = median_s <= TIME_TARGET_S, peak <= PEAK_TARGET_BYTES
    try:
        out = json.loads(out_text)
    except json.JSONDecodeError:
        out = None
    finding = first_finding(out)
    if out is None:
        ok_finding = False
        found = f"output is not JSON: {out_text[:200]!r}"
    elif finding is None:
        ok_finding = False
        where = "appears" if VANISHED in out_text else "does not appear"
        found = f"no tables[0].findings[0] in the JSON; '{VANISHED}' {where} in the output"
    else:
        ok_finding = VANISHED in json.dumps(finding)
        if isinstance(finding, dict):
            found = f"kind={finding.get('kind')!r} message={finding.get('message')!r}"
            if finding.get("kind") != "category_vanished":
                found += " (expected kind 'category_vanished')"
        else:
            found = repr(finding)[:300]
    what = f"two {args.rows:,}-row Parquet snapshots"
    print(
        f"mledger data diff A B --json ({what}), whole process: median {median_s:.2f} s "
        f"of {len(times)}  [target ≤ {TIME_TARGET_S:.0f} s: {verdict(ok_time)}]"
    )
    print(
        f"  peak RSS {peak / (1 << 20):.0f} MiB  "
        f"[target ≤ {PEAK_TARGET_BYTES >> 30} GiB: {verdict(ok_mem)}]"
    )
    print(f"  first finding: {found}  [names '{VANISHED}': {verdict(ok_finding)}]")
    return 0 if ok_time and ok_mem and ok_finding else 1


if __name__ == "__main__":
    sys.exit(main())
