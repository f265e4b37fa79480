"""Environment reads and rollback latency (issue: Environments, promotion and rollback).

Targets: `mledger env show production --json` as a whole process in ≤ 300 ms; `mledger rollback
production --approver NAME --reason TEXT` as a whole process, start to pointer flipped and event
written, in ≤ 1 s (after a rehearsal, whose passed load check the rollback reuses); `env at` over
an environment with 10,000 history entries in ≤ 10 ms in-process on SQLite.

    python benchmarks/bench_env.py [--rollbacks 5] [--history 10000] [--lookups 200]
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

from modelledger import client as ml
from modelledger.core.clock import format_time
from modelledger.ledger import events
from modelledger.ledger.home import Ledger, init_ledger, open_ledger
from modelledger.releases import environments as env_service
from modelledger.releases import store as environments
from modelledger.releases.environment import PlannedMove
from modelledger.settings import Settings

SHOW_TARGET_MS = 300.0
ROLLBACK_TARGET_MS = 1000.0
AT_TARGET_MS = 10.0
ENV = "production"


def mledger(home: Path, *args: str, user: str | None = "alice") -> subprocess.CompletedProcess[str]:
    """Run the CLI from inside the project, as a person would: the ledger is found by walking up.
    With ``user`` None no MLEDGER_* variable is set, and the CLI skips importing pydantic-settings."""
    exe = Path(sys.executable).with_name("mledger")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}
    if user is not None:
        env["MLEDGER_USER"] = user
    done = subprocess.run(
        [str(exe), *args], env=env, cwd=home, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"mledger {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


def fresh(home: Path) -> Ledger:
    """A ledger of its own (not the client's per-process cache), closed by the caller."""
    return open_ledger(Settings(home=home / ".mledger"))


def timed(home: Path, *args: str, user: str | None = "alice") -> tuple[float, str]:
    t0 = time.perf_counter()
    out = mledger(home, *args, user=user).stdout
    return (time.perf_counter() - t0) * 1000, out


def make_model(path: Path, seed: int) -> Path:
    """A small real scikit-learn model, so rehearsal's load check unpickles sklearn for real."""
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 8))
    y = (x[:, 0] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    joblib.dump(LogisticRegression().fit(x, y), path)
    return path


def register(home: Path, round_: int) -> str:
    art = make_model(home / f"model-{round_}.joblib", round_)
    out = mledger(
        home,
        "model",
        "register",
        "fraud",
        "--artifact",
        str(art),
        "--loader",
        "joblib",
        "--code-ref",
        "git+https://example.com/fraud@abc123",
        "--param",
        f"round={round_}",
        "--json",
    ).stdout
    return str(json.loads(out)["id"])


def bench_rollback(home: Path, rounds: int) -> list[float]:
    """Each round puts a new version live over the baseline, rehearses (untimed), then times the
    rollback to the baseline; a rolled-back-from version is never a target again, so each round
    needs a fresh one."""
    mledger(home, "init")
    mledger(home, "env", "create", ENV)
    base = register(home, 0)
    mledger(home, "promote", base, "--to", ENV, "--approver", "bob")
    times = []
    for i in range(1, rounds + 1):
        v = register(home, i)
        mledger(home, "promote", v, "--to", ENV, "--approver", "bob", "--reason", f"round {i}")
        mledger(home, "rehearse", ENV)
        ms, _ = timed(
            home, "rollback", ENV, "--approver", "bob", "--reason", f"bench round {i}: bad model"
        )
        times.append(ms)
        shown = json.loads(mledger(home, "env", "show", ENV, "--json").stdout)
        if shown.get("id") != base:
            raise SystemExit(f"rollback round {i} did not flip {ENV} back to {base}: {shown}")
    with fresh(home) as ledger, ledger.db.read() as conn:
        rolled = events.listing(conn, subject=ENV, kind="rollback", limit=rounds + 1)
    if len(rolled) != rounds:
        raise SystemExit(f"expected {rounds} rollback events, found {len(rolled)}")
    return times


def bench_show(home: Path, user: str | None = None, runs: int = 15) -> float:
    """A read needs no acting user; as in bench_register, no MLEDGER_* variable is set unless
    ``user`` is given (setting one costs the pydantic-settings import)."""
    cmd = ("env", "show", ENV, "--json")
    mledger(home, *cmd, user=user)  # warm-up: page cache
    return statistics.median(timed(home, *cmd, user=user)[0] for _ in range(runs))


def build_history(home: Path, n: int) -> tuple[datetime, datetime]:
    """An environment with ``n`` moves, one a minute, written straight through the store layer in
    one transaction (n promotions through the CLI would take far longer than the benchmark)."""
    init_ledger(home)
    ledger = fresh(home)
    ids = []
    for i in range(3):
        art = make_model(home / f"model-{i}.joblib", i)
        code_ref = "git+https://example.com/fraud@abc123"
        v = ml.register_model(
            "fraud", art, loader="joblib", params={"i": i}, code_ref=code_ref, ledger=ledger
        )
        ids.append(v.id)
    start = datetime.now(UTC) - timedelta(minutes=n + 60)
    with ledger.db.write() as conn:
        environments.ensure(conn, ENV, format_time(start))
        previous = None
        for i in range(n):
            at = format_time(start + timedelta(minutes=i + 1))
            version = ids[i % len(ids)]
            payload = {"env": ENV, "version": version, "previous": previous, "approvers": ["bob"]}
            ev = events.append(conn, "promotion", ENV, "bench", at, payload)
            planned = PlannedMove(
                env=ENV, subject_id=version, previous_id=previous, action="promote", at=at,
                requester="bench", approvers=("bob",), reason=None, policy_sha256=None,
                event_seq=ev.seq,
            )  # fmt: skip
            environments.record_move(conn, planned)
            previous = version
    ledger.close()
    return start, start + timedelta(minutes=n + 1)


def bench_at(home: Path, lookups: int, first: datetime, last: datetime) -> tuple[float, float]:
    ledger = fresh(home)
    rng = random.Random(42)
    span = (last - first).total_seconds()
    instants = [
        (first + timedelta(seconds=rng.uniform(1, span))).isoformat() for _ in range(lookups)
    ]
    env_service.at(ledger, ENV, instants[0])  # warm-up: connection, statement caches
    each = []
    for when in instants:
        t0 = time.perf_counter()
        found = env_service.at(ledger, ENV, when)
        each.append((time.perf_counter() - t0) * 1000)
        assert found["id"] is not None, found
    ledger.close()
    return statistics.median(each), statistics.quantiles(each, n=10)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollbacks", type=int, default=5, help="rollbacks to time")
    parser.add_argument("--history", type=int, default=10_000, help="moves in the env-at history")
    parser.add_argument("--lookups", type=int, default=200, help="random instants for env at")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mledger-bench-") as tmp:
        live = Path(tmp) / "live"
        live.mkdir()
        rollbacks = bench_rollback(live, args.rollbacks)
        show_ms = bench_show(live)
        show_user_ms = bench_show(live, user="alice")
        hist = Path(tmp) / "history"
        hist.mkdir()
        t0 = time.perf_counter()
        first, last = build_history(hist, args.history)
        print(f"  built {args.history} history entries in {time.perf_counter() - t0:.1f} s")
        show_big_ms = bench_show(hist)
        at_ms, at_p90 = bench_at(hist, args.lookups, first, last)
    rb_median, rb_max = statistics.median(rollbacks), max(rollbacks)
    print(f"  rollbacks: {', '.join(f'{t:.0f}' for t in rollbacks)} ms")
    ok_show = show_ms <= SHOW_TARGET_MS and show_big_ms <= SHOW_TARGET_MS
    ok_rb = rb_max <= ROLLBACK_TARGET_MS
    ok_at = at_ms <= AT_TARGET_MS
    print(
        f"  env show with MLEDGER_USER set: {show_user_ms:.0f} ms; "
        f"over {args.history} history entries: {show_big_ms:.0f} ms"
    )
    print(
        f"mledger env show {ENV} --json (whole process, median of 15): {show_ms:.0f} ms  "
        f"[target ≤ {SHOW_TARGET_MS:.0f} ms: {'PASS' if ok_show else 'FAIL'}]"
    )
    print(
        f"mledger rollback {ENV} (whole process, after rehearsal, {args.rollbacks} runs): "
        f"median {rb_median:.0f} ms, max {rb_max:.0f} ms  "
        f"[target ≤ {ROLLBACK_TARGET_MS:.0f} ms: {'PASS' if ok_rb else 'FAIL'}]"
    )
    print(
        f"env at over {args.history} history entries (in-process, SQLite, {args.lookups} "
        f"instants): median {at_ms:.2f} ms, p90 {at_p90:.2f} ms  "
        f"[target ≤ {AT_TARGET_MS:.0f} ms: {'PASS' if ok_at else 'FAIL'}]"
    )
    return 0 if ok_show and ok_rb and ok_at else 1


if __name__ == "__main__":
    sys.exit(main())
