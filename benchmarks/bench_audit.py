"""Whole-ledger verification and proofs at scale (issue 18: a ledger that proves itself).

Targets: `mledger audit verify --json` over 1,000,000 events and 100,000 versions in ≤ 10 s as a
whole process on SQLite; `audit prove` proofs of O(log n) hashes (~20 at 1M events), their size,
the time to make one and to check one with `python -m modelledger.verify FILE`. There is no peer:
the target is printed beside each figure.

The ledger (audit_fixture.py: versions with ten hyperparameters and a data link, eval results,
cards, descriptions, tag changes filling the log to the size asked for, promotions and logged
predictions, every row bound to its event) is generated once and kept under .bench-cache/, keyed
by its sizes, the schema and the fixture's layout: generating 1M events takes minutes, re-runs
reuse it. A generated ledger must verify clean. The exit status is 1 when it does not, when a
proof does not check, or, at the issue's size, when `audit verify` is over its target.

    python benchmarks/bench_audit.py [--events 100000] [--versions 10000] [--predictions N]
        [--runs 3] [--fresh] [--no-cache] [--profile]
    python benchmarks/bench_audit.py --events 1000000 --versions 100000   # the issue's size
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audit_fixture import Fixture, Plan, build

from modelledger import verify as standalone
from modelledger.cli.id_recipes import RECIPES
from modelledger.ledger import integrity
from modelledger.ledger.chain_walk import walk
from modelledger.ledger.head import SCHEMA_HEAD

VERIFY_TARGET_S = 10.0
TARGET_EVENTS, TARGET_VERSIONS = 1_000_000, 100_000
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench-cache"
CHILD_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}


def ok(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def run(cmd: list[str], cwd: Path, check: bool = True) -> tuple[float, int, int, str]:
    """(seconds, peak RSS in MiB, exit status, stdout) of one child process. Its own rusage
    (wait4), so that the peak is this child's and not the largest of every child so far."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, cwd=cwd, env=CHILD_ENV, stdout=subprocess.PIPE, stderr=err)
        assert child.stdout is not None
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - t0
        child.returncode = os.waitstatus_to_exitcode(status)
        child.stdout.close()
        if check and child.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed:\n{out.decode()}{err.read().decode()}")
    return elapsed, usage.ru_maxrss // 1024, child.returncode, out.decode()


def mledger(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("mledger")), *args]


def ledger_for(plan: Plan, fresh: bool, cache: bool, tmp: Path) -> Fixture:
    """The cached ledger of this plan when it still verifies clean, else a new one."""
    home = (CACHE / f"audit-{plan.key}-s{SCHEMA_HEAD}") if cache else tmp / "ledger"
    if cache:
        CACHE.mkdir(exist_ok=True)
        (CACHE / ".gitignore").write_text("# benchmark ledgers, not source\n*\n")
    found = None if fresh else Fixture.load(home)
    if found is not None:
        print(f"ledger: reusing {home.relative_to(ROOT)} (generated in {found.seconds:.0f} s)")
        return found
    if home.exists():
        shutil.rmtree(home)
    print(f"ledger: generating {plan.events:,} events, {plan.versions:,} versions → {home}")
    fixture = build(home, plan)
    print(f"ledger: generated in {fixture.seconds:.1f} s")
    return fixture


def verify_split(fixture: Fixture) -> tuple[dict[str, float], integrity.Integrity]:
    """``verify_ledger``'s passes timed one by one in one process (what the worker process
    overlaps with the chain walk on a large ledger is timed here in turn)."""
    times: dict[str, float] = {}
    out = integrity.Integrity()

    def timed(label: str, step: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = step()
        times[label] = time.perf_counter() - t0
        return result

    with fixture.ledger() as ledger:
        timed("count rows (the progress bar's total)", lambda: integrity.total_rows(ledger))
        with ledger.db.read() as conn:
            w = timed("chain + Merkle tree + gather bindings", lambda: walk(conn, set()))
            out.events = w.count
            if w.broken is not None:
                out.damage.append(integrity.Damage("chain", f"event {w.broken[0]}", w.broken[1]))
            timed(
                "bound tables: rows → digests", lambda: integrity._tables(conn, w, out, None, None)
            )
            timed("inference log: batch roots", lambda: integrity._log(conn, w, out, None))
            for recipe in RECIPES:
                timed(f"ids: {recipe.table}", lambda r=recipe: integrity._ids(conn, r, out))
            timed("environments replay", lambda: integrity._environments(conn, w, out))
            timed("tags + descriptions replay", lambda: integrity._labels(conn, w, out))
    return times, out


def verify_in_process(fixture: Fixture) -> tuple[float, integrity.Integrity]:
    with fixture.ledger() as ledger:
        t0 = time.perf_counter()
        report = integrity.verify_ledger(ledger, RECIPES)
        return time.perf_counter() - t0, report


def profile_verify(fixture: Fixture, lines: int = 25) -> None:
    with fixture.ledger() as ledger:
        profiler = cProfile.Profile()
        profiler.runcall(integrity.verify_ledger, ledger, RECIPES)
    print(f"\nprofile of verify_ledger in-process (top {lines} by cumulative time):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(lines)


def path_hashes(doc: dict[str, Any]) -> str:
    found = f"{len(doc['path'])}"
    if "row_path" in doc:
        found += f" + {len(doc['row_path'])} in the batch"
    return found


def bench_proofs(fixture: Fixture, work: Path, runs: int) -> tuple[list[list[str]], bool]:
    """Rows of the proof table, and whether every proof checked."""
    home = fixture.home
    full = work / "checkpoint.json"
    made: dict[str, tuple[Path, float]] = {}
    seconds, _, _, _ = run(mledger("audit", "checkpoint", "-o", str(full)), home)
    made["checkpoint (audit checkpoint)"] = (full, seconds)
    middle = fixture.events // 2 + 1
    asks = {
        f"inclusion of event {middle:,}": ["--event", str(middle), "--checkpoint", str(full)],
        f"consistency {fixture.half_size:,} → {fixture.events:,}": [
            "--from", str(fixture.half), "--to", str(full),
        ],
    }  # fmt: skip
    if fixture.request_id is not None:
        asks[f"prediction {fixture.request_id}"] = [
            "--request", fixture.request_id, "--checkpoint", str(full),
        ]  # fmt: skip
    for label, args in asks.items():
        out = work / f"proof-{len(made)}.json"
        seconds, _, _, _ = run(mledger("audit", "prove", *args, "-o", str(out)), home)
        made[label] = (out, seconds)
    rows, all_ok = [], True
    for label, (path, make_s) in made.items():
        doc = json.loads(path.read_text())
        times = []
        for _ in range(runs):
            t, _, status, _ = run(
                [sys.executable, "-m", "modelledger.verify", str(path)], work, False
            )
            all_ok &= status == 0
            times.append(t)
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.5:
            standalone.check(doc, None)
            n += 1
        check_us = (time.perf_counter() - t0) / n * 1e6
        rows.append(
            [
                label,
                "-" if "signature" in doc else path_hashes(doc),
                f"{path.stat().st_size:,} B",
                f"{make_s * 1000:.0f} ms",
                f"{statistics.median(times) * 1000:.0f} ms",
                f"{check_us:.0f} µs",
            ]
        )
    return rows, all_ok


def table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the ledger")
    parser.add_argument("--versions", type=int, default=10_000, help="model versions among them")
    parser.add_argument(
        "--predictions",
        type=int,
        default=None,
        help="logged predictions (default: one per version)",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed `audit verify` processes")
    parser.add_argument("--fresh", action="store_true", help="regenerate even if cached")
    parser.add_argument("--no-cache", action="store_true", help="generate in a temp dir")
    parser.add_argument("--profile", action="store_true", help="cProfile an in-process verify")
    args = parser.parse_args()
    at_target = args.events >= TARGET_EVENTS and args.versions >= TARGET_VERSIONS
    predictions = args.versions if args.predictions is None else args.predictions
    plan = Plan(events=args.events, versions=args.versions, predictions=predictions)
    with tempfile.TemporaryDirectory(prefix="mledger-bench-audit-") as tmp:
        fixture = ledger_for(plan, args.fresh, not args.no_cache, Path(tmp))
        size = f"{fixture.events:,} events, {fixture.versions:,} versions"
        verify = mledger("audit", "verify", "--json")
        run(verify, fixture.home, check=False)  # warm-up: page cache, imports
        times, peak, report = [], 0, {}
        for _ in range(args.runs):
            seconds, rss, _, out = run(verify, fixture.home, check=False)
            times.append(seconds)
            peak = max(peak, rss)
            report = json.loads(out)
        clean = bool(report.get("ok")) and report.get("events") == fixture.events
        if not clean:
            print(f"FAIL: the generated ledger does not verify clean: {report.get('damage')}")
        split, partial = verify_split(fixture)
        in_process, full = verify_in_process(fixture)
        clean &= full.ok and partial.ok
        rows, proofs_ok = bench_proofs(fixture, Path(tmp), args.runs)
        if args.profile:
            profile_verify(fixture)
    verify_s = statistics.median(times)
    rows_checked = sum(full.rows.values()) + full.predictions
    print(
        f"\nledger: {size}, {rows_checked:,} bound rows and predictions; "
        f"generated in {fixture.seconds:.0f} s"
    )
    print("\naudit verify, in-process passes (verify_ledger's calls, timed one by one):")
    table(["pass", "time"], [[k, f"{v:.2f} s"] for k, v in split.items()])
    print(f"  verify_ledger in one call: {in_process:.2f} s")
    print(
        f"\nproofs (the ledger's own key; log2({fixture.events:,}) = {math.log2(fixture.events):.1f}):"
    )
    table(
        ["proof", "path hashes", "file", "audit prove", "verify process", "verify.check"],
        rows,
    )
    target = f"target ≤ {VERIFY_TARGET_S:.0f} s" + ("" if at_target else " at 1M / 100k")
    passed = verify_s <= VERIFY_TARGET_S
    print(
        f"\nmledger audit verify --json, {size}: {verify_s:.2f} s median of {args.runs} "
        f"(min {min(times):.2f} s), peak RSS {peak} MiB  [{target}"
        + (f": {ok(passed)}]" if at_target else "]")
    )
    print(f"ledger verifies clean: {ok(clean)}; every proof checks: {ok(proofs_ok)}")
    failed = not clean or not proofs_ok or (at_target and not passed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
