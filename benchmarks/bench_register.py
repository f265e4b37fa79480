"""Registration throughput and `model show` latency (issue: Registry core).

Targets: registering a version with a 1 MiB artifact, 10 params and a data reference in
≤ 2.5 ms per version in-process on SQLite, commits durable; `mledger model show REF --json` as a whole process
in ≤ 300 ms. MLflow's equivalent (run + params + artifact + registered version) is timed in
the same run and the ratio printed: in this process when mlflow is importable here, else from
its own virtualenv (``make bench-peers``: .peers/mlflow, or
$MLEDGER_BENCH_MLFLOW). The ratio is printed beside the absolute target, not instead of it.

    python benchmarks/bench_register.py [--n 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peers import mlflow_command

from modelledger import client as ml
from modelledger.models.code import capture_code

# 2 ms was wave 1's target; the integrity issue allows 2.5 ms now that every commit is durable
REGISTER_TARGET_MS = 2.5
SHOW_TARGET_MS = 300.0
# The issue set 2 ms against MLflow's ~18 ms on its machine: a 9x ratio, which is what can be
# compared across machines (absolute times cannot).
MLFLOW_RATIO_TARGET = 18.0 / 2.0


def bench_register(home: Path, n: int) -> tuple[float, str]:
    (home / "train.py").write_text("print('train')\n")
    # data and artifacts are not code: ignored, as a project would (else the tree is dirty)
    (home / ".gitignore").write_text("data/\nmodel-*.bin\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=home, check=True)
    subprocess.run([*git, "add", "train.py", ".gitignore"], cwd=home, check=True)
    subprocess.run([*git, "commit", "-qm", "train"], cwd=home, check=True)
    ledger = ml.init(home)
    data_dir = home / "data"
    data_dir.mkdir()
    (data_dir / "train.csv").write_text("a,b\n1,2\n")
    snap = ml.snapshot(data_dir, "train", ledger=ledger)
    code, _ = capture_code(ledger, home, allow_dirty=False)  # once per run, as ml.run does
    assert code is not None
    artifacts = []
    for i in range(n + 5):
        p = home / f"model-{i}.bin"
        p.write_bytes(os.urandom(1 << 20))  # distinct bytes: every version stores a new blob
        artifacts.append(p)
    os.sync()  # the sources were written long before registration; don't time their writeback
    params = {f"p{j}": j * 0.1 for j in range(10)}

    def one(i: int) -> str:
        return ml.register_model(
            "bench",
            artifacts[i],
            data=[snap.id],
            params={**params, "i": i},
            seed=i,
            code=code,
            ledger=ledger,
        ).id

    for i in range(5):  # warm-up: lock capture, hardware, statement caches
        one(n + i)
    last, each = "", []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        last = one(i)
        each.append((time.perf_counter() - t) * 1000)
    per = (time.perf_counter() - t0) / n * 1000
    ledger.close()
    print(
        f"  per registration: median {statistics.median(each):.2f} ms, "
        f"p90 {statistics.quantiles(each, n=10)[-1]:.2f} ms, mean {per:.2f} ms"
    )
    return per, last


def bench_show(home: Path, ref: str, runs: int = 15) -> float:
    """Run from inside the project, as a person would: the ledger is found by walking up."""
    exe = Path(sys.executable).with_name("mledger")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}
    cmd = [str(exe), "model", "show", ref, "--json"]
    subprocess.run(cmd, env=env, cwd=home, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=home, check=True, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench_mlflow(tmp: Path, n: int) -> tuple[float, str] | str:
    """MLflow's ms per version and its version, in the same run; or why it was skipped."""
    command, how = mlflow_command("peer_mlflow_register.py")
    if command is None:
        return how
    work = tmp / "mlflow"
    work.mkdir()
    done = subprocess.run(
        [*command, str(work), "--n", str(n)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return f"failed ({how}):\n{done.stderr.strip()}"
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return float(found["ms_per_version"]), f"{found['version']} from {how}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="versions to register")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mledger-bench-") as tmp:
        home = Path(tmp) / "ledger"
        home.mkdir()
        per, last = bench_register(home, args.n)
        show_ms = bench_show(home, last)
        theirs = bench_mlflow(Path(tmp), min(args.n, 50))
    ok_reg = per <= REGISTER_TARGET_MS
    ok_show = show_ms <= SHOW_TARGET_MS
    print(
        f"register (1 MiB artifact, 10 params, 1 data ref, SQLite): {per:.2f} ms/version "
        f"over {args.n}  [target ≤ {REGISTER_TARGET_MS} ms: {'PASS' if ok_reg else 'FAIL'}]"
    )
    print(
        f"mledger model show REF --json (whole process, median of 15): {show_ms:.0f} ms  "
        f"[target ≤ {SHOW_TARGET_MS:.0f} ms: {'PASS' if ok_show else 'FAIL'}]"
    )
    if isinstance(theirs, str):
        print(f"mlflow: {theirs}; peer comparison skipped")
    else:
        their_ms, version = theirs
        ratio = their_ms / per
        ok_ratio = ratio >= MLFLOW_RATIO_TARGET
        print(
            f"mlflow {version}: run+params+artifact+model version, same run: "
            f"{their_ms:.2f} ms/version; mledger is {ratio:.1f}x faster  "
            f"[target ≥ {MLFLOW_RATIO_TARGET:.0f}x: {'PASS' if ok_ratio else 'FAIL'}]"
        )
    return 0 if ok_reg and ok_show else 1


if __name__ == "__main__":
    sys.exit(main())
