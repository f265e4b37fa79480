"""Two `mledger server` processes (replicas) on one PostgreSQL ledger serving one client: writes
through either, in turn and at once, and what one records the other serves at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from modelledger.identity import tokens
from modelledger.ledger.audit import verify as verify_chain
from modelledger.ledger.home import init_ledger, now, open_ledger
from modelledger.releases.signatures import sign_decision, sign_request
from modelledger.settings import Settings
from tests.people import key_of
from tests.server.conftest import LOCK, make_team

pytestmark = pytest.mark.postgres


def start(project: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "MLEDGER_USER": "nobody"}
    for var in ("MLEDGER_HOME", "MLEDGER_DB_URL", "MLEDGER_BLOB_URL"):
        env.pop(var, None)
    with log.open("w") as err:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelledger.cli.app", "server", "--port", "0"],
            cwd=project, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.stdout.close()
    if "serving" not in line:
        proc.kill()
        proc.wait()
        raise AssertionError(f"no server: {line}{log.read_text()}")
    url = line.split(" on ", 1)[1].split()[0]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise AssertionError(f"the server never answered: {log.read_text()}")


def test_two_replicas_serve_one_client_without_conflict(
    project, tmp_path, pg_schema_url, monkeypatch
):
    monkeypatch.chdir(project)
    for var in ("MLEDGER_HOME", "MLEDGER_DB_URL", "MLEDGER_BLOB_URL"):
        monkeypatch.delenv(var, raising=False)
    result = init_ledger(project, db_url=pg_schema_url)
    ledger = open_ledger(Settings(home=result.home))
    secrets = make_team(ledger, project)
    servers = [start(project, tmp_path / "a.log"), start(project, tmp_path / "b.log")]
    try:
        urls = [url for _, url in servers]

        def h(who: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {secrets[who]}"}

        def register(i: int) -> dict:
            meta = {"name": "churn", "code_ref": f"git@example:churn#{i}", "lock": LOCK}
            got = httpx.post(
                f"{urls[i % 2]}/versions", params={"metadata": json.dumps(meta)},
                content=f"weights-{i}".encode(), headers=h("alice"), timeout=30,
            )  # fmt: skip
            assert got.status_code == 201, got.text
            return got.json()

        # in turn, then eight at once across both
        made = [register(i) for i in range(4)]
        with ThreadPoolExecutor(8) as pool:
            made += list(pool.map(register, range(4, 12)))
        assert sorted(v["number"] for v in made) == list(range(1, 13))
        # each replica serves what the other registered
        for i, v in enumerate(made):
            got = httpx.get(f"{urls[(i + 1) % 2]}/resolve/{v['label']}", headers=h("rita"))
            assert got.json()["id"] == v["id"]
        # a request drafted and opened on one, approved on the other
        drafted = httpx.post(
            f"{urls[0]}/requests/draft", json={"ref": "churn@3", "env": "production"},
            headers=h("wes"),
        ).json()["request"]  # fmt: skip
        opened = httpx.post(
            f"{urls[1]}/requests", json=sign_request(drafted, key_of(project, "wes")),
            headers=h("wes"),
        )  # fmt: skip
        assert opened.status_code == 201, opened.text
        rid = opened.json()["id"]
        shown = httpx.get(f"{urls[0]}/requests/{rid}", headers=h("bob")).json()
        body = sign_decision(shown, key_of(project, "bob"), "bob", "approve", None, at=now())
        done = httpx.post(f"{urls[0]}/requests/{rid}/approve", json=body, headers=h("bob"))
        assert done.status_code == 200 and done.json()["promoted"], done.text
        live = httpx.get(f"{urls[1]}/resolve/churn@production", headers=h("rita")).json()
        assert live["id"] == made[2]["id"]
        # a token revoked in the ledger is refused by both at their next request
        tokens.revoke(ledger, key_of(project, "carol"), secrets["rita"].split("_")[1])
        for url in urls:
            assert httpx.get(f"{url}/whoami", headers=h("rita")).status_code == 401
        assert verify_chain(ledger).ok
    finally:
        for proc, _ in servers:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in servers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        ledger.close()
