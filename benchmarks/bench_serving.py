"""Prediction server overhead and throughput (issue: Prediction server).

Targets: the router + validation + logging overhead on top of a trivial model, timed in-process
on the handler path (sticky-key routing over a 90/10 canary, feature validation against the
declared inputs, ``PredictionLogger.log``, the shadow hand-off; no HTTP), p99 ≤ 1 ms per request
— shown beside calling the model directly; and ``mledger serve`` on one worker sustaining
≥ 1,000 requests/s against the same model, driven over loopback by httpx clients with keep-alive
(several threads in a separate load-generator process, bounded by count and time). Every
acknowledged request must reach the inference log.

    python benchmarks/bench_serving.py [--calls 20000] [--requests 20000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.models.fake_models: the trivial python: model

from modelledger.ledger.home import Ledger, init_ledger, open_ledger  # noqa: E402
from modelledger.models.register import RegisterRequest, register  # noqa: E402
from modelledger.releases import environments as envs  # noqa: E402
from modelledger.releases.promote import promote  # noqa: E402
from modelledger.serving import routing  # noqa: E402
from modelledger.settings import Settings  # noqa: E402

OVERHEAD_TARGET_MS = 1.0
RPS_TARGET = 1000.0
ENV = "production"
PLAIN = "staging"
LOADER = "python:tests.models.fake_models:make_scaler"
INPUTS = {"x": "float", "country": "category", "user": "str"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_ledger(home: Path) -> Ledger:
    """production: fraud@1 live, fraud@2 a 10 % canary sticky on ``user``, fraud@3 a shadow;
    staging: fraud@1 alone (the plain trivial-model case)."""
    result = init_ledger(home)
    ledger = open_ledger(Settings(home=result.home))
    ids = []
    for n in (1, 2, 3):
        art = home / f"model{n}.json"
        art.write_text(json.dumps({"factor": n}))
        req = RegisterRequest(
            name="fraud",
            artifact=art,
            loader=LOADER,
            code_ref=f"git+https://example.com/fraud@{n:040x}",
            card={"inputs": INPUTS},
        )
        ids.append(register(ledger, req).version.id)
    envs.create(ledger, ENV)
    promote(ledger, ids[0], ENV, ["bob"])
    envs.create(ledger, PLAIN)
    promote(ledger, ids[0], PLAIN, ["bob"])
    routing.set_route(
        ledger, ENV, [f"{ids[0]}=90", f"{ids[1]}=10"], ["bob"], [ids[2]], sticky_key="user"
    )
    return ledger


def body(i: int) -> dict[str, Any]:
    return {
        "request_id": f"bench-{i}",
        "features": {"x": i * 0.5, "country": "de" if i % 3 else "fr", "user": f"u{i % 997}"},
    }


def bench_overhead(ledger: Ledger, calls: int) -> tuple[list[float], list[float], int]:
    """Handler path per request vs the model alone, both with the same feature dict."""
    from modelledger.serving.hotswap import Server

    server = Server(ledger, ENV, poll_interval=0)
    runtime = server.runtime
    handler = server.handler
    model = runtime.arms["primary"].loaded.model
    payloads = [body(i) for i in range(calls)]
    for p in payloads[:200]:  # warm-up (not logged twice: fresh ids below)
        model.predict([p["features"]])
    direct, path = [], []
    clock = time.perf_counter
    for p in payloads:
        features = p["features"]
        t0 = clock()
        model.predict([features])
        direct.append((clock() - t0) * 1000)
    journal = server.log
    for p in payloads:
        t0 = clock()
        journal.append(handler.predict(runtime, p).records)  # the hand-off, not the fsync
        path.append((clock() - t0) * 1000)
    server.close()
    return direct, path, server.log.written


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LOADGEN = r"""
import json, sys, threading, time
import httpx
url, threads, total, seconds, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
ok, failed, lock = [], [0], threading.Lock()
counter = iter(range(total))
deadline = time.monotonic() + seconds
def run():
    mine = []
    with httpx.Client(base_url=url, timeout=10) as client:
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = {"request_id": f"{prefix}-{i}", "features": {"x": i * 0.5, "country": "de", "user": f"u{i % 997}"}}
            r = client.post("/predict", json=body)
            if r.status_code == 200:
                mine.append(r.json()["request_id"])
            else:
                failed[0] += 1
    with lock:
        ok.extend(mine)
t0 = time.perf_counter()
workers = [threading.Thread(target=run) for _ in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
elapsed = time.perf_counter() - t0
print(json.dumps({"ok": ok, "failed": failed[0], "seconds": elapsed}))
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_http(
    home: Path, env_name: str, requests: int, seconds: float, threads: int, processes: int
) -> dict[str, Any]:
    """``mledger serve ENV`` as a process, loaded from a separate load-generator process; then
    SIGTERM, and every acknowledged request id looked up in the inference log."""
    import httpx

    port = free_port()
    exe = Path(sys.executable).with_name("mledger")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}
    env["PYTHONPATH"] = str(ROOT)
    server = subprocess.Popen(
        [str(exe), "serve", env_name, "--port", str(port)],
        cwd=home,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(400):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise SystemExit(f"the server for {env_name} did not come up")
        with httpx.Client(base_url=url) as c:  # warm-up, outside the timed run
            for i in range(100):
                c.post("/predict", json={"features": body(i)["features"]})
        cpu0 = cpu_seconds(server.pid)
        # several load-generator processes, so httpx's own cost is not what limits the rate
        share = -(-requests // processes)
        generators = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    LOADGEN,
                    url,
                    str(threads),
                    str(share),
                    str(seconds),
                    f"load-{env_name}-{p}",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for p in range(processes)
        ]
        outputs = [json.loads(g.communicate()[0]) for g in generators]
        result: dict[str, Any] = {
            "ok": [rid for o in outputs for rid in o["ok"]],
            "failed": sum(o["failed"] for o in outputs),
            "seconds": max(o["seconds"] for o in outputs),  # the generators' timed windows
        }
        result["cpu"] = cpu_seconds(server.pid) - cpu0
    finally:
        server.terminate()
        server.wait(timeout=60)
    with open_ledger(Settings(home=home / ".mledger")) as ledger, ledger.db.read() as conn:
        from modelledger.predictions.store.reads import known_requests

        logged = known_requests(conn, result["ok"])
    result["logged"] = len(logged)
    result["exit"] = server.returncode
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="in-process handler calls")
    parser.add_argument("--requests", type=int, default=15_000, help="HTTP requests per run")
    parser.add_argument("--seconds", type=float, default=15.0, help="HTTP load time per run")
    parser.add_argument("--threads", type=int, default=4, help="threads per load generator")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mledger-bench-") as tmp:
        home = Path(tmp)
        ledger = build_ledger(home)
        direct, path, written = bench_overhead(ledger, args.calls)
        ledger.close()
        runs = {
            name: bench_http(home, name, args.requests, args.seconds, args.threads, args.processes)
            for name in (PLAIN, ENV)
        }
    d50, d99 = statistics.median(direct), percentile(direct, 0.99)
    p50, p99 = statistics.median(path), percentile(path, 0.99)
    ok_over = p99 <= OVERHEAD_TARGET_MS
    print(f"  model alone: p50 {d50 * 1000:.1f} µs, p99 {d99 * 1000:.1f} µs")
    print(
        f"  handler path ({args.calls} calls, 90/10 canary sticky on a feature, one shadow; "
        f"{written} records logged): p50 {p50 * 1000:.1f} µs, p99 {p99 * 1000:.1f} µs, "
        f"max {max(path):.2f} ms; overhead over the model at p99 {(p99 - d99) * 1000:.1f} µs"
    )
    rates = {}
    for name, run in runs.items():
        served = len(run["ok"])
        rates[name] = served / run["seconds"]
        what = "trivial model alone" if name == PLAIN else "90/10 canary + one shadow"
        print(
            f"  HTTP {name} ({what}): {served} answered, {run['failed']} failed, in "
            f"{run['seconds']:.2f} s = {rates[name]:,.0f}/s from {args.processes}×{args.threads} "
            f"keep-alive clients; server CPU {run['cpu'] / run['seconds']:.0%} of one core; "
            f"{run['logged']}/{served} in the inference log after SIGTERM (exit {run['exit']})"
        )
    plain = runs[PLAIN]
    ok_rps = rates[PLAIN] >= RPS_TARGET and all(
        len(r["ok"]) == r["logged"] and r["failed"] == 0 for r in runs.values()
    )
    print(
        f"routing + validation + logging on the handler path (in-process, p99 incl. the model): "
        f"{p99:.3f} ms  [target ≤ {OVERHEAD_TARGET_MS:g} ms: {'PASS' if ok_over else 'FAIL'}]"
    )
    print(
        f"mledger serve, one worker, trivial model over loopback: {rates[PLAIN]:,.0f} "
        f"requests/s ({len(plain['ok'])} requests; with canary + shadow {rates[ENV]:,.0f}/s)  "
        f"[target ≥ {RPS_TARGET:,.0f}/s, every answer logged: {'PASS' if ok_rps else 'FAIL'}]"
    )
    return 0 if ok_over and ok_rps else 1


if __name__ == "__main__":
    sys.exit(main())
