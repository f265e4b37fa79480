"""Drift check over a million logged predictions, against Evidently (issue: Drift monitoring).

Targets: 1,000,000 logged predictions × 20 features (15 numeric, 5 categorical) with feedback
for 10% of them, the full `drift check` (input drift per feature, output drift, quality from
feedback, quality per protected slice) in ≤ 2 s on the embedded default (SQLite), with a peak
memory of ≤ 1.5 GiB; when Evidently is installed, ours ≥ 20x faster than its DataDriftPreset
over the same data (the training rows as reference, the logged rows as current), run in the same
benchmark from Parquet files the benchmark writes.

Measured: `check()` in-process (median of 3 after a warm-up, the result's JSON included) with the
default policy and with a policy setting a quality floor and two protected slices; the whole
`mledger drift check production --window 24h --json` process with and without that policy (its
wall time and its own peak RSS, taken by a small wrapper process that starts it), once more with `--html FILE` (the
page's size: aggregates only, so it must not grow with the rows). Registration (which profiles
the training data) and the setup steps are timed and printed for information.

Evidently runs from its own virtualenv: `make bench-peers` installs .peers/evidently (or set
MLEDGER_BENCH_EVIDENTLY to a python that imports evidently, pandas and pyarrow); without it the
comparison is skipped. Its figures are the subprocess's wall time and peak RSS, and, inside it,
reading the Parquet files and running the preset (the result's dict included).

    python benchmarks/bench_drift.py [--rows 1000000] [--no-peer] [--keep] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import yaml
from peers import find_peer
from unapproved import create_unapproved

from modelledger.client import log_predictions
from modelledger.data.snapshot import SnapshotRequest, snapshot
from modelledger.drift.check import check
from modelledger.drift.policy import parse_drift_policy
from modelledger.ledger.home import Ledger, init_ledger, open_ledger
from modelledger.models.register import RegisterRequest, register
from modelledger.predictions.feedback import import_feedback
from modelledger.releases.promote import promote
from modelledger.settings import Settings

CHECK_TARGET_S = 2.0
RSS_TARGET = int(1.5 * (1 << 30))
EVIDENTLY_RATIO_MIN = 20.0
ENV = "production"
WINDOW = "24h"
USER = "bench"
MLEDGER = Path(sys.executable).with_name("mledger")
NUMERIC = [f"f{i}" for i in range(15)]
CATEGORICAL = [f"c{i}" for i in range(5)]
CATEGORIES = (5, 10, 15, 20, 30)  # categories of c0..c4
CHUNK = 100_000  # predictions per log_predictions call
FEEDBACK_EVERY = 10  # one request in ten gets feedback
SPAN_S = 6 * 3600  # the logged predictions are spread over the last six hours
# Planted drift (current vs reference): f0's mean moves one sd, f1's spread grows 1.5x, f2's
# mean moves a tenth of a sd; c0 loses cat0, c1 leans to cat9; output follows f0. The rest stay.
DRIFTED = {"f0", "f1", "c0", "c1", "output"}
POLICY_YAML = """\
quality: {min: 0.8}
slices:
  c0_cat1: {c0: cat1}
  c2_head: {c2: [cat0, cat1, cat2]}
"""


def ok(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def mib(n: float) -> str:
    return f"{n / (1 << 20):,.0f} MiB"


def timed(label: str, fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    print(f"  {label}: {seconds:.1f} s")
    return seconds, out


# -- data -------------------------------------------------------------------------------------
def categorical(rng: np.random.Generator, n: int, k: int, weights: np.ndarray) -> np.ndarray:
    names = np.array([f"cat{j}" for j in range(k)], dtype=object)
    return names[rng.choice(k, size=n, p=weights / weights.sum())]


def zipf(k: int) -> np.ndarray:
    return 1.0 / np.arange(1, k + 1)


def make_frame(n: int, seed: int, drifted: bool) -> dict[str, np.ndarray]:
    """20 feature columns (and ``label`` or ``output``): the training rows, or the served ones
    with the planted drift."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        loc, scale = float(i), 1.0 + i / 10
        if drifted and name == "f0":
            loc += 1.0 * scale
        if drifted and name == "f1":
            scale *= 1.5
        if drifted and name == "f2":
            loc += 0.1 * scale
        cols[name] = np.round(rng.normal(loc, scale, n), 4)
    for name, k in zip(CATEGORICAL, CATEGORIES, strict=True):
        w = zipf(k)
        if drifted and name == "c0":
            w[0] = 0.0
        if drifted and name == "c1":
            w[9] *= 20
        cols[name] = categorical(rng, n, k, w)
    # The model: a noisy linear score on f0 and f1, so the outputs drift with f0.
    z = cols["f0"] + 0.5 * (cols["f1"] - 1.0) / 1.1
    y = (z + rng.normal(0, 0.8, n) > 0).astype(np.int64)
    cols["label" if not drifted else "output"] = y
    return cols


def write_parquet(cols: dict[str, np.ndarray], path: Path) -> None:
    con = duckdb.connect()
    try:
        con.register("frame", cols)
        con.execute(f"COPY (SELECT * FROM frame) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
    finally:
        con.close()


def ledger_times(n: int, end: float) -> np.ndarray:
    """``n`` ledger time texts, evenly over SPAN_S seconds before ``end`` (epoch seconds)."""
    start_us = int((end - SPAN_S) * 1e6)
    us = start_us + (np.arange(n, dtype=np.int64) * SPAN_S * 1_000_000) // max(n, 1)
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")
    return np.char.add(text.astype(str), "Z")


# -- setup ------------------------------------------------------------------------------------
@dataclass
class World:
    home: Path
    version_id: str
    reference: Path  # training rows (20 features and label)
    current: Path  # served rows (20 features and output)
    policy: Path
    request_ids: list[str]


def fresh(home: Path) -> Ledger:
    return open_ledger(Settings(home=home / ".mledger"))


def records(
    cols: dict[str, np.ndarray], times: np.ndarray, vid: str, a: int, b: int
) -> Iterator[dict[str, Any]]:
    names = NUMERIC + CATEGORICAL
    values = [cols[n][a:b].tolist() for n in names]
    outputs = cols["output"][a:b].tolist()
    at = times[a:b].tolist()
    for i, row in enumerate(zip(*values, strict=True)):
        yield {
            "request_id": f"r{a + i:08d}",
            "version_id": vid,
            "output": outputs[i],
            "served_at": at[i],
            "features": dict(zip(names, row, strict=True)),
        }


def feedback_file(cols: dict[str, np.ndarray], n: int, path: Path, seed: int) -> int:
    """Feedback for every FEEDBACK_EVERY-th request: right 90% of the time in the first four
    hours, 70% in the last two, and 60% for c0 = cat1 throughout (a weak slice)."""
    rng = np.random.default_rng(seed)
    idx = np.arange(0, n, FEEDBACK_EVERY)
    late = idx >= (n * 4) // 6
    p = np.where(late, 0.7, 0.9)
    p = np.where(cols["c0"][idx] == "cat1", 0.6, p)
    right = rng.random(len(idx)) < p
    with open(path, "w", encoding="utf-8") as out:
        for i, r in zip(idx.tolist(), right.tolist(), strict=True):
            out.write(f'{{"request_id": "r{i:08d}", "was_correct": {"true" if r else "false"}}}\n')
    return len(idx)


def setup(tmp: Path, n: int) -> tuple[World, dict[str, float]]:
    home = tmp / "project"
    data = home / "data"
    data.mkdir(parents=True)
    steps: dict[str, float] = {}
    print(f"setup ({n:,} rows):")
    steps["generate"], (ref, cur) = timed(
        "generate reference and current data",
        lambda: (make_frame(n, 1, drifted=False), make_frame(n, 2, drifted=True)),
    )
    reference, current = data / "train.parquet", tmp / "current.parquet"
    write_parquet(ref, reference)
    write_parquet(cur, current)
    del ref
    init_ledger(home)
    with fresh(home) as ledger:
        steps["snapshot"], snap = timed(
            "snapshot the training data",
            lambda: snapshot(ledger, SnapshotRequest([data], "train")).snapshot.id,
        )
        artifact = home / "model.bin"
        artifact.write_bytes(b"drift bench weights")
        req = RegisterRequest(
            name="m", artifact=artifact, code_ref="bench", data=[f"{snap}:train"],
            card={"label": "label"},
        )  # fmt: skip
        steps["register"], found = timed(
            "register (profiles the training data)", lambda: register(ledger, req)
        )
        taken = found.extras["drift_profile"]
        if taken is None:
            raise SystemExit("registration took no reference profile from the training data")
        print(f"    reference profile: {taken.rows:,} rows, {taken.features} features")
        vid = found.version.id
        create_unapproved(ledger, ENV)
        promote(ledger, vid, ENV, reason="benchmark")
        times = ledger_times(n, time.time() - 60)

        def log_all() -> None:
            for a in range(0, n, CHUNK):
                report = log_predictions(
                    records(cur, times, vid, a, min(n, a + CHUNK)), ENV, ledger
                )
                assert report.count == min(n, a + CHUNK) - a, report

        steps["log"], _ = timed(f"log {n:,} predictions with 20 features", log_all)
        print(f"    {n / steps['log']:,.0f} predictions/s")
        fb = tmp / "feedback.jsonl"
        judged = feedback_file(cur, n, fb, 3)
        steps["feedback"], rep = timed(
            f"import feedback for {judged:,} requests", lambda: import_feedback(ledger, fb)
        )
        assert rep.recorded == judged, rep
    policy = tmp / "drift-policy.yaml"
    policy.write_text(POLICY_YAML)
    ids = [f"r{i:08d}" for i in range(0, n, max(1, n // 50))]
    return World(home, vid, reference, current, policy, ids), steps


# -- ours -------------------------------------------------------------------------------------
def in_process(world: World, policy: Any, runs: int = 3) -> tuple[float, dict[str, Any]]:
    """Median of ``runs`` check() calls after a warm-up, on a ledger of its own."""
    with fresh(world.home) as ledger:
        report = check(ledger, ENV, window=WINDOW, policy=policy).to_json()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            report = check(ledger, ENV, window=WINDOW, policy=policy).to_json()
            times.append(time.perf_counter() - t0)
    return statistics.median(times), report


def profiled(world: World, policy: Any, top: int = 15) -> str:
    with fresh(world.home) as ledger:
        check(ledger, ENV, window=WINDOW, policy=policy)  # warm-up
        prof = cProfile.Profile()
        prof.enable()
        check(ledger, ENV, window=WINDOW, policy=policy).to_json()
        prof.disable()
    out = io.StringIO()
    for key in ("cumulative", "tottime"):
        out.write(f"-- check() by {key}, top {top}\n")
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key).print_stats(top)
    return out.getvalue()


@dataclass
class Child:
    seconds: float
    peak_rss: int  # bytes
    returncode: int
    stdout: str
    stderr: str


# Runs the command given as argv[2:] and writes its wall time and peak RSS to argv[1]. The figure
# is taken here, in a small process, because a child's ru_maxrss also counts the image it was
# forked from: measured straight from the benchmark (hundreds of MiB of data), mledger's own peak
# would be hidden under the benchmark's.
RUSAGE_WRAPPER = """\
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "peak_rss": peak, "returncode": code}, out)
"""


def measured(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> Child:
    """Run ``cmd`` in a fresh child of a small wrapper process: its wall time (from the wrapper,
    so the wrapper's own start-up is left out) and its own peak RSS (RUSAGE_CHILDREN, ru_maxrss
    in KiB on Linux)."""
    with tempfile.TemporaryDirectory(prefix="mledger-bench-child-") as tmp:
        figures = Path(tmp, "figures.json")
        wrapper = [sys.executable, "-c", RUSAGE_WRAPPER, str(figures), *cmd]
        done = subprocess.run(wrapper, cwd=cwd, env=env, capture_output=True, check=False)
        if not figures.exists():
            raise SystemExit(f"could not run {cmd[0]}: {done.stderr.decode(errors='replace')}")
        got = json.loads(figures.read_text())
    return Child(
        got["seconds"], got["peak_rss"], got["returncode"],
        done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"),
    )  # fmt: skip


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}
    env["MLEDGER_USER"] = USER  # an alert records drift_alert events: a write needs a user
    return env


def cli(world: World, *extra: str) -> Child:
    cmd = [str(MLEDGER), "drift", "check", ENV, "--window", WINDOW, "--json", *extra]
    child = measured(cmd, world.home, cli_env())
    # Exit 1 is "drift alerted", which the planted drift should cause; anything else is a failure.
    if child.returncode not in (0, 1) or not child.stdout.startswith("{"):
        raise SystemExit(
            f"mledger {' '.join(cmd[1:])} failed (exit {child.returncode}):\n"
            f"{child.stdout[-2000:]}{child.stderr[-2000:]}"
        )
    return child


def cli_runs(world: World, *extra: str, runs: int = 3) -> tuple[float, int, dict[str, Any]]:
    """Median wall time and largest peak RSS of ``runs`` processes after a warm-up one."""
    cli(world, *extra)
    done = [cli(world, *extra) for _ in range(runs)]
    return (
        statistics.median(c.seconds for c in done),
        max(c.peak_rss for c in done),
        json.loads(done[-1].stdout),
    )


def planted(report: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(planted drifts the check missed, undrifted features it alerted on)."""
    alerted = {
        s["name"] for v in report["versions"] for s in v["signals"]
        if s["kind"] in ("input", "output") and s["status"] == "alert"
    }  # fmt: skip
    return sorted(DRIFTED - alerted), sorted(alerted - DRIFTED)


def signal_summary(report: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for v in report["versions"]:
        for s in v["signals"]:
            key = f"{s['kind']} {s['status']}"
            counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))


# -- evidently --------------------------------------------------------------------------------
EVIDENTLY_SCRIPT = """\
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
t1 = time.perf_counter()
numeric, categorical = json.loads(sys.argv[3]), json.loads(sys.argv[4])
names = numeric + categorical
ref = pd.read_parquet(sys.argv[1], columns=names)
cur = pd.read_parquet(sys.argv[2], columns=names)
t2 = time.perf_counter()
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
reference = Dataset.from_pandas(ref, data_definition=definition)
current = Dataset.from_pandas(cur, data_definition=definition)
result = Report([DataDriftPreset()]).run(current, reference)
out = result.dict()
t3 = time.perf_counter()
drifted = []
for m in out.get("metrics", []):
    config = m.get("config") or {}
    if str(config.get("type", "")).endswith(":ValueDrift") and m.get("value") is not None:
        if m["value"] >= config.get("threshold", 0.1):
            drifted.append(config.get("column"))
print(json.dumps({"version": evidently.__version__, "import": t1 - t0, "read": t2 - t1,
                  "run": t3 - t2, "rows": [len(ref), len(cur)], "drifted": sorted(drifted)}))
"""


def find_evidently() -> tuple[Path | None, str]:
    """A python that imports evidently, and how it was found, or None and why not."""
    return find_peer("MLEDGER_BENCH_EVIDENTLY", "evidently/bin/python")


def run_evidently(python: Path, world: World, tmp: Path) -> tuple[Child, dict[str, Any]]:
    script = tmp / "evidently_drift.py"
    script.write_text(EVIDENTLY_SCRIPT)
    cmd = [
        str(python), str(script), str(world.reference), str(world.current),
        json.dumps(NUMERIC), json.dumps(CATEGORICAL),
    ]  # fmt: skip
    child = measured(cmd, tmp)
    if child.returncode != 0:
        raise SystemExit(f"Evidently failed (exit {child.returncode}):\n{child.stderr[-3000:]}")
    return child, json.loads(child.stdout.strip().splitlines()[-1])


# -- main -------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="logged predictions")
    parser.add_argument("--no-peer", action="store_true", help="skip the Evidently comparison")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--profile", action="store_true", help="cProfile one check(): top 15")
    args = parser.parse_args()
    os.environ["MLEDGER_USER"] = USER
    tmp = Path(tempfile.mkdtemp(prefix="mledger-bench-drift-"))
    try:
        return run(args, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> int:
    n = args.rows
    world, steps = setup(tmp, n)
    policy = parse_drift_policy(yaml.safe_load(POLICY_YAML))

    default_s, _ = in_process(world, None)
    full_s, full_report = in_process(world, policy)
    missed, spurious = planted(full_report)
    proc_s, proc_rss, _ = cli_runs(world)
    proc_full_s, proc_full_rss, _ = cli_runs(world, "--policy", str(world.policy))
    page = tmp / "drift.html"
    html = cli(world, "--policy", str(world.policy), "--html", str(page))
    page_text = page.read_text(encoding="utf-8")
    leaked = [r for r in world.request_ids if r in page_text]

    if args.profile:
        print(profiled(world, policy))

    peer: tuple[Child, dict[str, Any]] | None = None
    if args.no_peer:
        print("Evidently: skipped (--no-peer)")
    else:
        python, how = find_evidently()
        if python is None:
            print(f"Evidently: {how}; skipping the comparison")
        else:
            print(f"Evidently: {how}")
            peer = run_evidently(python, world, tmp)

    print()
    print(
        f"setup: generate {steps['generate']:.1f} s, snapshot {steps['snapshot']:.1f} s, "
        f"log {steps['log']:.1f} s ({n / steps['log']:,.0f}/s), feedback {steps['feedback']:.1f} s"
    )
    print(
        f"registration with the training profile ({n:,} rows × 20 features + label): "
        f"{steps['register']:.2f} s"
    )
    print(f"signals (full policy): {signal_summary(full_report)}")
    print(
        f"planted drift found: {', '.join(sorted(DRIFTED - set(missed)))}"
        + (f"; MISSED: {', '.join(missed)}" if missed else "")
        + (f"; alerts on undrifted features: {', '.join(spurious)}" if spurious else "")
    )
    ok_in = full_s <= CHECK_TARGET_S
    ok_proc = max(proc_s, proc_full_s) <= CHECK_TARGET_S
    ok_rss = max(proc_rss, proc_full_rss, html.peak_rss) <= RSS_TARGET
    print(f"check() in-process, default policy (median of 3): {default_s:.2f} s")
    print(
        f"check() in-process, quality floor + 2 slices (median of 3): {full_s:.2f} s  "
        f"[target ≤ {CHECK_TARGET_S:.0f} s: {ok(ok_in)}]"
    )
    print(
        f"mledger drift check {ENV} --window {WINDOW} --json, whole process (median of 3): "
        f"{proc_s:.2f} s, peak RSS {mib(proc_rss)}; with --policy: {proc_full_s:.2f} s, "
        f"peak RSS {mib(proc_full_rss)}  [target ≤ {CHECK_TARGET_S:.0f} s: {ok(ok_proc)}]"
    )
    print(
        f"peak memory of the check process: {mib(max(proc_rss, proc_full_rss, html.peak_rss))}  "
        f"[target ≤ {mib(RSS_TARGET)}: {ok(ok_rss)}]"
    )
    ok_html = not leaked
    print(
        f"with --html: {html.seconds:.2f} s, page {page.stat().st_size / 1024:,.0f} KiB, "
        f"peak RSS {mib(html.peak_rss)}; no request id in the page (aggregates only): "
        f"{ok(ok_html)}"
    )
    passed = ok_in and ok_proc and ok_rss and ok_html and not missed
    if peer is not None:
        child, got = peer
        compute = got["read"] + got["run"]
        r_in, r_proc = compute / full_s, child.seconds / proc_full_s
        # judged on the computation, each side reading its data (the Evidently figure
        # is its preset's run); whole processes, imports included, are printed beside it
        ok_peer = r_in >= EVIDENTLY_RATIO_MIN
        print(
            f"Evidently {got['version']} DataDriftPreset, {got['rows'][0]:,} reference + "
            f"{got['rows'][1]:,} current rows × 20 columns: process {child.seconds:.1f} s "
            f"(imports {got['import']:.1f} s, read Parquet {got['read']:.1f} s, run "
            f"{got['run']:.1f} s), peak RSS {mib(child.peak_rss)}; drifted columns: "
            f"{', '.join(got['drifted']) or 'none'}"
        )
        print(
            f"ours vs Evidently: read + run {compute:.1f} s vs check() {full_s:.2f} s = "
            f"{r_in:.1f}x [target ≥ {EVIDENTLY_RATIO_MIN:.0f}x: {ok(ok_peer)}]; whole processes "
            f"{child.seconds:.1f} s vs {proc_full_s:.2f} s = {r_proc:.1f}x (for information)"
        )
        passed &= ok_peer
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
