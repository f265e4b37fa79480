"""Durable serving (issue 19), against real `mledger serve` processes on both backends: an answered
request is never lost (kill -9 under load, the ledger's write lock held), and several processes
serving one environment give one answer per client-given request id.

Every test drives the server over 127.0.0.1 with keep-alive connections, records which request ids
got a 200, stops the server(s), and then counts the ``served`` rows of the inference log
(``predictions``) per request id: each answered id must have exactly one.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from modelledger.ledger.home import Ledger
from modelledger.releases import environments as envs
from tests.people import promote_approved
from tests.serving.test_server import ENV, ROOT, features, version

EXE = Path(sys.executable).with_name("mledger")
START_TIMEOUT = 30.0  # seconds for `mledger serve` to print its start-up line
STOP_TIMEOUT = 30.0  # seconds for SIGTERM to drain and exit
DRAIN_TIMEOUT = 30.0  # seconds for /health to report an empty journal backlog
NO_BACKLOG_FIELD_WAIT = 2.0  # a server without journal.backlog: let its ~1 s logger run, then look


# -- fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture
def served_version(ledger: Ledger, project: Path) -> Any:
    """fraud@1 (x1, the fake scaler of tests.models.fake_models) live in production."""
    v1 = version(ledger, project, 1)
    envs.create(ledger, ENV)
    promote_approved(ledger, v1.id, ENV)
    return v1


def serve_env() -> dict[str, str]:
    """The parent's environment without any MLEDGER_* (the ledger is found from the cwd, its
    database URL from the ledger's own config), plus what the server needs: the repository first
    on PYTHONPATH for the test model's python: loader, and a user."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}
    path = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env.update(PYTHONPATH=os.pathsep.join(path), MLEDGER_USER="alice")
    return env


@dataclass
class Served:
    """One `mledger serve ENV --port 0 --json` process."""

    proc: subprocess.Popen[bytes]
    url: str
    stderr: Path

    @property
    def host(self) -> str:
        return str(self.url.split("//", 1)[1].rsplit(":", 1)[0])

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def errors(self) -> str:
        return self.stderr.read_text(errors="replace")[-4000:]

    def health(self) -> dict[str, Any] | None:
        """GET /health's JSON (also when it is a 503), None when the server does not answer."""
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=5) as r:
                return dict(json.loads(r.read()))
        except urllib.error.HTTPError as exc:
            with exc:
                return dict(json.loads(exc.read()))
        except (OSError, ValueError):
            return None

    def terminate(self) -> int:
        """SIGTERM (answer what is in flight, drain, exit); the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            pytest.fail(f"SIGTERM did not stop the server in {STOP_TIMEOUT} s:\n{self.errors()}")


@contextlib.contextmanager
def serving(project: Path, logs: Path, name: str) -> Iterator[Served]:
    """Start `mledger serve` in ``project`` and wait (bounded) for its JSON start-up document;
    the process is killed on the way out if it still runs."""
    stderr_path = logs / f"{name}.stderr.txt"
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(
            [str(EXE), "serve", ENV, "--port", "0", "--json"],
            cwd=project,
            env=serve_env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        started = read_start_up(proc, name, stderr_path)
        assert started["env"] == ENV and started["url"].startswith("http://127.0.0.1:"), started
        server = Served(proc, started["url"], stderr_path)
        wait_until(lambda: server.health() is not None, 20, f"{name}: /health never answered")
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def read_start_up(proc: subprocess.Popen[bytes], name: str, stderr: Path) -> dict[str, Any]:
    """The JSON document `serve --json` prints once it listens (one line or indented), read
    from the pipe with a deadline."""
    assert proc.stdout is not None
    fd, out = proc.stdout.fileno(), b""
    deadline = time.monotonic() + START_TIMEOUT
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            break  # the deadline, or the process closed its stdout (exited)
        out += chunk
        try:
            return dict(json.loads(out))
        except ValueError:
            continue  # not whole yet
    pytest.fail(
        f"{name}: no start-up document within {START_TIMEOUT} s (exit {proc.poll()}); "
        f"stdout {out[:500]!r}\n" + stderr.read_text(errors="replace")
    )


def wait_until(check: Callable[[], bool], seconds: float, what: str, every: float = 0.05) -> float:
    """Seconds until ``check()`` held; fails the test with ``what`` after ``seconds``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"{what} (not within {seconds} s)")
        time.sleep(every)
    return time.monotonic() - started


def backlog(health: dict[str, Any] | None) -> int | None:
    """The journal's backlog (answered, not yet in the ledger); None when /health has no such
    field (the server before issue 19) or did not answer."""
    journal = (health or {}).get("journal")
    if not isinstance(journal, dict) or "backlog" not in journal:
        return None
    return int(journal["backlog"])


def drain(server: Served, name: str) -> None:
    """Wait (bounded) until ``server`` reports journal backlog 0; a server without the field gets
    a short while for its own background logger instead."""
    if backlog(server.health()) is None:
        time.sleep(NO_BACKLOG_FIELD_WAIT)
        return
    wait_until(
        lambda: backlog(server.health()) == 0,
        DRAIN_TIMEOUT,
        f"{name}: journal backlog never reached 0 (last /health: {server.health()})",
        every=0.1,
    )


class Client:
    """One keep-alive HTTP/1.1 connection to a server."""

    def __init__(self, server: Served, timeout: float = 10.0) -> None:
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)

    def predict(self, request_id: str, x: float) -> tuple[int, dict[str, Any]]:
        """POST /predict with a client-given id; (status, JSON body). Raises on transport errors
        and on a body that did not arrive whole: neither is an answer."""
        body = json.dumps({"request_id": request_id, "features": features(x)})
        self.conn.request("POST", "/predict", body, {"content-type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        return response.status, dict(json.loads(data))

    def close(self) -> None:
        self.conn.close()


def served_rows(ledger: Ledger) -> Counter[str]:
    """How many ``served`` rows the inference log holds for each request id of ENV."""
    with ledger.db.read() as conn:
        rows = conn.execute(
            text(
                "SELECT request_id, count(*) FROM predictions "
                "WHERE env = :env AND mode = 'served' GROUP BY request_id"
            ),
            {"env": ENV},
        )
        return Counter({str(rid): int(n) for rid, n in rows})


def check_each_logged_once(answered: set[str], sent: set[str], logged: Counter[str]) -> None:
    """Every answered id has exactly one served row, and nothing is logged that was never sent."""
    missing = sorted(i for i in answered if logged[i] == 0)
    doubled = sorted(i for i in answered if logged[i] > 1)
    strangers = sorted(i for i in logged if i not in sent)
    once = sum(1 for i in answered if logged[i] == 1)
    print(f"sent {len(sent):,}, answered {len(answered):,}, logged exactly once {once:,}")
    assert not missing and not doubled and not strangers, (
        f"answered {len(answered):,}, logged {once:,} of them exactly once; "
        f"{len(missing):,} answered but never logged (e.g. {missing[:5]}), "
        f"{len(doubled):,} logged more than once (e.g. {doubled[:5]}), "
        f"{len(strangers):,} logged but never sent (e.g. {strangers[:5]}); "
        f"{sum(logged.values()):,} served rows in all"
    )


@contextlib.contextmanager
def write_lock_held(ledger: Ledger, db_url: str | None) -> Iterator[None]:
    """Hold the ledger's write lock from another connection, the way a writer does (see
    ``Database._scope`` in src/modelledger/ledger/db.py): SQLite's ``BEGIN IMMEDIATE`` on the
    ledger's file, PostgreSQL's transaction-scoped advisory lock on the schema's hash."""
    if db_url is None:
        path = make_url(ledger.db.url).database
        assert path and Path(path).exists(), ledger.db.url
        conn = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    import psycopg

    url = make_url(db_url)
    schema = str(url.query["options"]).removeprefix("-csearch_path=")
    conninfo = db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, connect_timeout=10) as pg:  # not autocommit: a transaction
        here = pg.execute("SELECT current_schema()").fetchone()
        assert here is not None and here[0] == schema, (here, schema)  # the ledger's own lock
        pg.execute("SELECT pg_advisory_xact_lock(hashtext('mledger:' || current_schema()))")
        try:
            yield
        finally:
            pg.rollback()  # ends the transaction: the lock goes with it


@dataclass
class Load:
    """Client threads, each on its own keep-alive connection, sending unique request ids."""

    server: Served
    prefix: str
    max_requests: int
    pace: float = 0.0  # seconds between one thread's requests (0: as fast as answered)
    answered: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)  # non-200 answers (status and detail)
    latencies: list[float] = field(default_factory=list)
    broken: int = 0  # threads that stopped on a transport error
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0
    _threads: list[threading.Thread] = field(default_factory=list)

    def _take(self) -> str | None:
        with self._lock:
            if self.stop.is_set() or self._next >= self.max_requests:
                return None
            n, self._next = self._next, self._next + 1
            request_id = f"{self.prefix}-{n}"
            self.sent.add(request_id)
            return request_id

    def _fire(self) -> None:
        client = Client(self.server)
        try:
            while (request_id := self._take()) is not None:
                started = time.monotonic()
                try:
                    status, body = client.predict(request_id, float(len(request_id)))
                except (OSError, http.client.HTTPException, ValueError):
                    with self._lock:
                        self.broken += 1
                    return  # the server went away, or the answer did not arrive whole
                took = time.monotonic() - started
                with self._lock:
                    self.latencies.append(took)
                    if status == 200 and body.get("request_id") == request_id:
                        self.answered.add(request_id)
                    else:
                        self.failures.append(f"{request_id}: {status} {body}")
                if self.pace:
                    self.stop.wait(self.pace)
        finally:
            client.close()

    def start(self, threads: int) -> None:
        self._threads = [
            threading.Thread(target=self._fire, name=f"load-{self.prefix}-{n}", daemon=True)
            for n in range(threads)
        ]
        for t in self._threads:
            t.start()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def count(self) -> int:
        with self._lock:
            return len(self.answered)

    def join(self, timeout: float = 30.0, *, stop: bool = True) -> None:
        """Wait for the threads (told to stop first unless ``stop`` is False: they finish)."""
        if stop:
            self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not self.running, f"client threads still running after {timeout} s"


# -- 1. kill -9 under load --------------------------------------------------------------------------

LOAD_THREADS = 16
LOAD_SECONDS = 1.5
MAX_LOAD_REQUESTS = 4000  # the most the load ever sends
KILL_BY = 3000  # answers at which the server is killed even before LOAD_SECONDS: some in flight


def test_kill_9_under_load_loses_no_answered_request(ledger, served_version, project, tmp_path):
    with serving(project, tmp_path, "first") as first:
        load = Load(first, "k", MAX_LOAD_REQUESTS)
        started = time.monotonic()
        load.start(LOAD_THREADS)
        try:
            wait_until(
                lambda: load.count() >= 50 or not load.running,
                20,
                "no 50 answers under load",
            )
            assert load.count() >= 50, f"load stopped early: {load.failures[:5]}\n{first.errors()}"
            wait_until(
                lambda: time.monotonic() - started >= LOAD_SECONDS or load.count() >= KILL_BY,
                20,
                "load never reached its kill point",
                every=0.01,
            )
            assert load.running, "every request finished before the kill: none was in flight"
            first.proc.send_signal(signal.SIGKILL)  # mid-load: the clients are still firing
            first.proc.wait(timeout=10)
        finally:
            load.join()
    assert first.proc.returncode == -signal.SIGKILL
    assert not load.failures, load.failures[:5]  # under load, before the kill: only 200s
    assert load.broken > 0, "no request was cut off by the kill"

    with serving(project, tmp_path, "restarted") as again:
        replayed = ((again.health() or {}).get("journal") or {}).get("replayed")
        print(f"killed with {load.broken} requests in flight; replayed at restart: {replayed}")
        drain(again, "restarted")  # the dead process's journal, replayed into the ledger
        status = again.terminate()
    assert status in (0, -signal.SIGTERM), again.errors()

    check_each_logged_once(load.answered, load.sent, served_rows(ledger))


# -- 2. the ledger's write lock held -------------------------------------------------------------

# SQLite's busy timeout is 60 s and not configurable (PRAGMA busy_timeout=60000 in
# src/modelledger/ledger/db.py), and PostgreSQL's advisory lock waits without a timeout; holding
# the lock past 60 s would take over a minute, so `make test` holds it 8 s: longer than the new
# server's 5 s before a stalled drain makes /health say degraded (STALLED_AFTER in
# src/modelledger/predictions/durable_log.py). The slow variant (`make bench`) holds it 65 s, past
# the busy timeout, so the drain's writes actually fail and must be retried.
PROMPT = 2.0  # seconds: the most an answer may take while the ledger is locked
DEGRADED_AFTER = 5.5  # seconds held after which the new server's /health must say degraded


@pytest.mark.parametrize(
    "hold", [8.0, pytest.param(65.0, marks=pytest.mark.slow, id="past-busy-timeout")]
)
def test_write_lock_held_past_busy_timeout_loses_nothing(
    ledger, served_version, project, tmp_path, db_url, hold
):
    with serving(project, tmp_path, "locked") as server:
        warm = Load(server, "warm", 20)
        warm.start(2)
        warm.join(stop=False)
        assert warm.answered == warm.sent, warm.failures
        drain(server, "locked")
        logged_before = sum(served_rows(ledger).values())

        # ~80 requests a second from 4 paced threads: bounded however long the lock is held
        load = Load(server, "lk", int(hold * 200), pace=0.05)
        seen: list[tuple[float, dict[str, Any] | None]] = []
        with write_lock_held(ledger, db_url):
            held_at = time.monotonic()
            load.start(4)
            try:
                while (elapsed := time.monotonic() - held_at) < hold:
                    seen.append((elapsed, server.health()))
                    time.sleep(0.25)
                # the lock is the one the ledger writes under: nothing got through meanwhile
                assert sum(served_rows(ledger).values()) == logged_before
            finally:
                load.join()
        # answered while the ledger was locked: every request, promptly
        assert load.sent and load.answered == load.sent, (
            f"{len(load.answered):,} of {len(load.sent):,} answered while the ledger was "
            f"locked; {load.failures[:5]}; {load.broken} connections broken\n{server.errors()}"
        )
        slowest = max(load.latencies)
        assert slowest < PROMPT, f"slowest answer {slowest:.2f} s while the ledger was locked"

        # new behaviour (issue 19): /health says degraded, with a backlog, while the lock is held
        late = [h for t, h in seen if t >= DEGRADED_AFTER and h is not None]
        assert late, "no /health answer while the lock was held"
        if backlog(late[0]) is not None:
            assert all(h["status"] == "degraded" for h in late), [h["status"] for h in late]
            assert all((backlog(h) or 0) > 0 for h in late), [backlog(h) for h in late]

        drain(server, "locked")  # the lock is released: the backlog goes into the ledger
        if backlog(server.health()) is not None:  # new behaviour: healthy again once drained
            wait_until(
                lambda: (server.health() or {}).get("status") == "ok",
                10,
                f"/health still not ok after the drain: {server.health()}",
                every=0.1,
            )
        status = server.terminate()
    assert status in (0, -signal.SIGTERM), server.errors()

    answered, sent = load.answered | warm.answered, load.sent | warm.sent
    check_each_logged_once(answered, sent, served_rows(ledger))


# -- 3. two processes, one environment ------------------------------------------------------------

SHARED_IDS = 300
PAIRS = 8  # client threads per server


def test_two_processes_one_environment_one_answer_per_id(ledger, served_version, project, tmp_path):
    ids = [f"shared-{n}" for n in range(SHARED_IDS)]
    outcomes: dict[str, list[tuple[str, int]]] = {i: [] for i in ids}
    errors: list[str] = []  # answers other than 200 and 409, with their detail
    broken: list[str] = []  # requests that got no answer at all
    lock = threading.Lock()

    with serving(project, tmp_path, "a") as a, serving(project, tmp_path, "b") as b:
        barrier = threading.Barrier(2 * PAIRS, timeout=20)

        def fire(server: Served, name: str, chunk: list[str]) -> None:
            # both servers' thread k walk the same chunk in the same order, starting together:
            # each id reaches the two processes at about the same moment
            client = Client(server)
            try:
                barrier.wait()
                for request_id in chunk:
                    try:
                        status, body = client.predict(request_id, 2.0)
                    except (OSError, http.client.HTTPException, ValueError) as exc:
                        with lock:
                            broken.append(f"{name} {request_id}: {exc!r}")
                        return
                    with lock:
                        outcomes[request_id].append((name, status))
                        if status not in (200, 409):
                            errors.append(f"{name} {request_id}: {status} {body}"[:400])
            finally:
                client.close()

        chunks = [ids[k::PAIRS] for k in range(PAIRS)]
        threads = [
            threading.Thread(target=fire, args=(server, name, chunk), daemon=True)
            for server, name in ((a, "a"), (b, "b"))
            for chunk in chunks
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "client threads still running after 60 s"
        assert not broken, broken[:5]

        drain(a, "a")
        drain(b, "b")
        status_a, status_b = a.terminate(), b.terminate()
    assert status_a in (0, -signal.SIGTERM), a.errors()
    assert status_b in (0, -signal.SIGTERM), b.errors()

    statuses = {i: sorted(s for _, s in got) for i, got in outcomes.items()}
    answered = {i for i, s in statuses.items() if 200 in s}
    # the log first: an id answered by both processes with one version would still be one row
    check_each_logged_once(answered, set(ids), served_rows(ledger))
    twice = sorted(i for i, s in statuses.items() if s.count(200) > 1)
    odd = sorted(i for i, s in statuses.items() if s != [200, 409] and i not in twice)
    by = Counter(f"{name} {s}" for got in outcomes.values() for name, s in got)
    assert not twice and not odd, (
        f"{len(twice)} of {SHARED_IDS} ids answered 200 by both processes (e.g. {twice[:5]}), "
        f"{len(odd)} other than one 200 and one 409 (e.g. {[(i, statuses[i]) for i in odd[:5]]}); "
        f"answers by process and status: {dict(sorted(by.items()))}; {errors[:3]}"
    )
