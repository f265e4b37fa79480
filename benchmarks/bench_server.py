"""The registry API over loopback (issue 20): registering a version with a 1 MiB artifact and
resolving NAME@production, against MLflow's own tracking server.

Targets: a registration through `mledger server` ≥ 5× faster than MLflow's equivalent over its
REST API (a run, 10 params, the 1 MiB artifact uploaded through the tracking server, a
registered model version), both servers on SQLite and 127.0.0.1, timed in the same run;
`GET /api/v1/resolve/NAME@production` p50 ≤ 2 ms. MLflow comes from .peers/mlflow
(`make bench-peers`) or $MLEDGER_BENCH_MLFLOW (its python), and is skipped when absent.

    python benchmarks/bench_server.py [--n 100] [--resolves 2000]

The MLflow half runs this same file in MLflow's virtualenv (``--peer URL DIR``), where
modelledger is not installed: modelledger is imported only in the mledger half.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REGISTER_RATIO_TARGET = 5.0
RESOLVE_TARGET_MS = 2.0
PARAMS = {f"p{j}": j * 0.1 for j in range(10)}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_for(url: str, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server at {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise SystemExit(f"no answer from {url}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- mledger ----------------------------------------------------------------------------------
def bench_mledger(work: Path, n: int, resolves: int) -> dict[str, Any]:
    import httpx

    from modelledger.identity import keyfile, manage, tokens
    from modelledger.identity.signing import public_key_text
    from modelledger.ledger.home import init_ledger, open_ledger
    from modelledger.releases.environments import set_policy
    from modelledger.settings import Settings

    project = work / "mledger"
    project.mkdir()
    home = init_ledger(project).home
    ledger = open_ledger(Settings(home=home))
    keyfile.generate(work / "admin.pem")
    keyfile.generate(work / "alice.pem")
    admin, alice = keyfile.load(work / "admin.pem"), keyfile.load(work / "alice.pem")
    manage.init_root(ledger, "admin", admin)
    manage.save(
        ledger, admin, "alice", grant=["writer"], add_keys=[public_key_text(alice)], create=True
    )
    secret = tokens.create(ledger, admin, "alice", ["read", "write"]).secret
    (work / "policy.yaml").write_text("approvers: 0\nfour_eyes: false\n")
    set_policy(ledger, "production", work / "policy.yaml", admin)
    ledger.close()
    lock = (
        subprocess.run(
            [sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True, check=False
        ).stdout
        or "bench==1\n"
    )
    arts = [os.urandom(1 << 20) for _ in range(n + 5)]
    env = {**os.environ, "MLEDGER_USER": "server"}
    for var in ("MLEDGER_HOME", "MLEDGER_DB_URL", "MLEDGER_BLOB_URL"):
        env.pop(var, None)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelledger.cli.app", "server", "--port", str(port)],
        cwd=project, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_for(f"{url}/openapi.json", proc)
        auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/octet-stream"}
        with httpx.Client(headers=auth, timeout=60) as client:

            def one(i: int) -> str:
                meta = {
                    "name": "bench", "params": {**PARAMS, "i": i}, "seed": i,
                    "code_ref": "git@example:bench#1", "lock": lock,
                }  # fmt: skip
                got = client.post(
                    f"{url}/versions", params={"metadata": json.dumps(meta)}, content=arts[i]
                )
                if got.status_code != 201:
                    raise SystemExit(f"register failed: {got.status_code} {got.text}")
                return str(got.json()["id"])

            for i in range(5):
                one(n + i)  # warm-up
            each = []
            for i in range(n):
                t = time.perf_counter()
                one(i)
                each.append((time.perf_counter() - t) * 1000)
            moved = client.post(
                f"{url}/promotions", json={"ref": "bench@1", "env": "production"},
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            if moved.status_code != 201:
                raise SystemExit(f"promotion failed: {moved.status_code} {moved.text}")
            took = []
            for _ in range(resolves // 10):
                client.get(f"{url}/resolve/bench@production")
            for _ in range(resolves):
                t = time.perf_counter()
                got = client.get(f"{url}/resolve/bench@production")
                took.append((time.perf_counter() - t) * 1000)
                assert got.status_code == 200, got.text
    finally:
        stop(proc)
    return {
        "register_p50": statistics.median(each),
        "register_p99": pct(each, 0.99),
        "resolve_p50": statistics.median(took),
        "resolve_p99": pct(took, 0.99),
    }


# -- mlflow -----------------------------------------------------------------------------------
def mlflow_python() -> tuple[str | None, str]:
    import importlib.util

    sys.path.insert(0, str(Path(__file__).parent))
    from peers import find_peer

    if importlib.util.find_spec("mlflow") is not None:
        return sys.executable, "this virtualenv"
    python, how = find_peer("MLEDGER_BENCH_MLFLOW", "mlflow/bin/python")
    return (str(python) if python else None), how


def bench_mlflow(work: Path, n: int) -> dict[str, Any] | str:
    python, how = mlflow_python()
    if python is None:
        return f"MLflow skipped: {how}"
    folder = work / "mlflow"
    folder.mkdir()
    port = free_port()
    cli = [python, "-m", "mlflow", "server"]
    proc = subprocess.Popen(
        [
            *cli, "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination", str(folder / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/health", proc)
        out = subprocess.run(
            [python, __file__, "--peer", url, str(folder), "--n", str(n)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            return f"MLflow failed: {out.stderr.strip().splitlines()[-1:]}"
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        result["how"] = how
        return result
    finally:
        stop(proc)


def peer(url: str, folder: Path, n: int) -> None:
    """In MLflow's virtualenv: a run with 10 params, the artifact uploaded through the tracking
    server, and a model version, per registration."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("bench")
    client = MlflowClient()
    client.create_registered_model("bench")
    arts = []
    for i in range(n + 2):
        p = folder / f"model-{i}.bin"
        p.write_bytes(os.urandom(1 << 20))
        arts.append(p)

    def one(i: int) -> None:
        with mlflow.start_run() as run:
            mlflow.log_params({**PARAMS, "i": i})
            mlflow.log_artifact(str(arts[i]))
            source = f"{run.info.artifact_uri}/{arts[i].name}"
        client.create_model_version("bench", source, run_id=run.info.run_id)

    for i in range(2):
        one(n + i)
    each = []
    for i in range(n):
        t = time.perf_counter()
        one(i)
        each.append((time.perf_counter() - t) * 1000)
    print(
        json.dumps(
            {
                "register_p50": statistics.median(each),
                "register_p99": pct(each, 0.99),
                "version": mlflow.__version__,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="registrations timed")
    parser.add_argument("--resolves", type=int, default=2000)
    parser.add_argument("--peer", nargs=2, metavar=("URL", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        peer(args.peer[0], Path(args.peer[1]), args.n)
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-server-"))
    try:
        ours = bench_mledger(work, args.n, args.resolves)
        theirs = bench_mlflow(work, max(10, args.n // 2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"mledger server, register 1 MiB over REST: p50 {ours['register_p50']:.2f} ms, "
        f"p99 {ours['register_p99']:.2f} ms"
    )
    ok = True
    if isinstance(theirs, str):
        print(theirs)
    else:
        ratio = theirs["register_p50"] / ours["register_p50"]
        ok &= ratio >= REGISTER_RATIO_TARGET
        print(
            f"mlflow {theirs['version']} server, run + params + artifact + model version over "
            f"REST: p50 {theirs['register_p50']:.2f} ms, p99 {theirs['register_p99']:.2f} ms "
            f"({theirs['how']})"
        )
        print(
            f"ratio (p50): {ratio:.1f}x faster (target ≥ {REGISTER_RATIO_TARGET:.0f}x) "
            f"{'PASS' if ratio >= REGISTER_RATIO_TARGET else 'FAIL'}"
        )
    resolve_ok = ours["resolve_p50"] <= RESOLVE_TARGET_MS
    ok &= resolve_ok
    print(
        f"resolve bench@production over REST: p50 {ours['resolve_p50']:.3f} ms, "
        f"p99 {ours['resolve_p99']:.3f} ms (target p50 ≤ {RESOLVE_TARGET_MS} ms) "
        f"{'PASS' if resolve_ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
