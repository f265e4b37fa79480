"""The demo's serving chapter: a 10% canary and a shadow, a real ``mledger serve`` process taking
a day of traffic, every answer logged with its version, and the arms compared (S10)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import typer

from modelledger.cli.demo import world
from modelledger.cli.demo.common import DemoFailed, Story, expect, note, run, say
from modelledger.cli.demo.release import APPROVER, NEW_SHARE, key_of

_LAUNCH = "from modelledger.cli.app import main; main()"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(conn: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers={"content-type": "application/json"})
    answer = conn.getresponse()
    payload = json.loads(answer.read() or b"null")
    if answer.status != 200:
        raise DemoFailed(f"demo: {method} {path} answered {answer.status}: {payload}")
    return payload


def _wait_healthy(proc: subprocess.Popen[bytes], port: int, errors: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoFailed(f"demo: mledger serve exited {proc.returncode}: {errors.read_text()}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            if _call(conn, "GET", "/health")["status"] == "ok":
                return
        except (OSError, DemoFailed):
            pass
        finally:
            conn.close()  # every probe's socket, whatever the answer (a busy server: degraded)
        time.sleep(0.1)
    raise DemoFailed("demo: mledger serve did not become healthy within 60 s")


def _serve_day(story: Story, rows: list[world.Shipment]) -> None:
    """Start ``mledger serve production``, send one request per shipment, stop it with SIGTERM
    (which writes every queued prediction to the log). One OpenMP thread per model: a request
    scores one row, and threads spinning beside the shadow's would only slow the answers."""
    port = _free_port()
    out, errors = story.base / "serve.out", story.base / "serve.err"
    typer.secho(f"$ mledger serve production --port {port} &", fg="green")
    with out.open("wb") as stdout, errors.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, "serve", "production", "--port", str(port)],
            cwd=story.base, env={"OMP_NUM_THREADS": "1", **os.environ}, stdout=stdout, stderr=stderr,
        )  # fmt: skip
    try:
        _wait_healthy(proc, port, errors)
        typer.echo(out.read_text().strip())
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        assert conn.sock is not None  # headers and body go out as two writes: no Nagle delay
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        for i, row in enumerate(rows):
            body = {
                "request_id": f"d3-{i:04d}",
                "features": {"customer_id": row.customer_id, **row.features()},
            }
            answer = _call(conn, "POST", "/predict", body)
            story.served.append({**answer, "late": row.late})
        took = time.perf_counter() - started
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)  # answer what is in flight, write the queued log, exit
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # uvicorn re-raises the signal once it has shut down gracefully
    expect(proc.returncode in (0, -signal.SIGTERM), f"mledger serve exited {proc.returncode}")
    arms: dict[str, int] = {}
    for a in story.served:
        arms[a["arm"]] = arms.get(a["arm"], 0) + 1
    note(
        f"{len(rows)} requests in {took:.1f} s; answered by "
        + ", ".join(f"{arm} {n}" for arm, n in sorted(arms.items()))
        + "; stopped with SIGTERM"
    )


def _check_logged(story: Story) -> None:
    """Every answer the server gave is in the inference log; shadows' scores are beside them."""
    from modelledger.predictions.store import reads as predictions

    answered = [a["request_id"] for a in story.served]
    with story.ledger.db.read() as conn:
        known = predictions.known_requests(conn, answered)
        total = predictions.count(conn, "production")
    expect(known == set(answered), f"{len(set(answered) - known)} answers are not in the log")
    note(
        f"the inference log holds all {len(answered)} answers, each with the version that gave "
        f"it, and {total - len(answered)} shadow scores"
    )


def serving(story: Story) -> None:
    say(
        "Serving: night 3 takes 90%, the gradient-boosting challenger a sticky 10% canary per "
        "customer, and night 1 answers every request in shadow (logged, never returned)."
    )
    run("route", "set", "production", "--arm", "delay@3=90", "--arm", "delay-gbm@1=10",
        "--shadow", "delay@1", "--sticky-key", "customer_id", "--key", key_of(APPROVER),
        "--reason", "canary: gradient boosting; night 1 in shadow")  # fmt: skip

    say("A real prediction server takes day 3's traffic: one request per shipment.")
    day3 = world.shipments(30, 300, new_share=NEW_SHARE)
    _serve_day(story, day3)
    _check_logged(story)

    say("The deliveries arrive; whether each answer was right goes in as feedback.")
    lines = [
        {
            "request_id": a["request_id"],
            "label": a["late"],
            "was_correct": a["prediction"] == a["late"],
        }
        for a in story.served
    ]
    path = story.base / "feedback-day3.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run("feedback", "import", path.name)
    run("predictions", "compare", "production", "--since", "1h")
    run("route", "show", "production")
