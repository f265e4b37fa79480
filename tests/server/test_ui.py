"""The web UI over HTTP (SQLite and PostgreSQL): sign-in, what each role sees and may do, a
decision signed over exactly the statement the page shows, and the pages an auditor reads
(version with its lineage graph, snapshot diff, environment timeline, request id, event log).
The browser itself is driven in test_ui_browser.py."""

from __future__ import annotations

import html
import re

import pytest

from modelledger.data.snapshot import SnapshotRequest, snapshot
from modelledger.identity.signing import sign
from modelledger.ledger.home import now
from modelledger.predictions.ingest import log_predictions
from modelledger.releases.workflow import show as request_state
from tests.conftest import alter_event, write


def signed_in(team, who):
    team.client.cookies.clear()
    answer = team.client.post(
        "/ui/login", data={"token": team.tokens[who], "next": "/ui/"}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    team.client.cookies.set("mledger_ui", team.tokens[who], path="/ui")
    return team.client


def csrf_of(page):
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def statement_of(page):
    found = re.search(r'<pre id="statement" class="statement">(.*?)</pre>', page, re.S)
    return html.unescape(found.group(1))  # what the browser's textContent gives the signer


@pytest.fixture
def pending(team):
    assert team.register("alice", b"w1").status_code == 201
    opened = team.open("wes", "churn@1")
    assert opened.status_code == 201, opened.text
    return opened.json()["id"]


def test_every_page_needs_a_live_token(team):
    c = team.client
    for path in ("/ui/", "/ui/requests", "/ui/versions/churn@1", "/ui/audit?kind=x"):
        gone = c.get(path, follow_redirects=False)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/ui/login?next=")
    refused = c.post("/ui/login", data={"token": "mlt_nope", "next": "/ui/"})
    assert refused.status_code == 401 and "not a live one" in refused.text
    c.cookies.set("mledger_ui", "mlt_forged_123", path="/ui")
    assert c.get("/ui/", follow_redirects=False).status_code == 303
    away = c.post(
        "/ui/login", data={"token": team.tokens["rita"], "next": "//evil.example/"},
        follow_redirects=False,
    )  # fmt: skip
    assert away.headers["location"] == "/ui/"  # no open redirect
    page = signed_in(team, "rita").get("/ui/")
    assert page.status_code == 200 and "rita" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


def test_an_approver_signs_exactly_what_the_page_shows(team, pending):
    c = signed_in(team, "bob")
    page = c.get(f"/ui/requests/{pending}").text
    assert "churn@1" in page and "Approve…" in page
    asked = c.post(
        f"/ui/requests/{pending}/sign",
        data={"decision": "approve", "reason": "fine <b>really</b>", "csrf": csrf_of(page)},
    )
    assert asked.status_code == 200 and "fine &lt;b&gt;really&lt;/b&gt;" in asked.text
    statement = statement_of(asked.text)
    assert f'"request":"{pending}"' in statement and '"principal":"bob"' in statement
    form = dict(
        re.findall(
            r'<input type="hidden" name="(\w+)"(?: id="[\w-]+")? value="([^"]*)"', asked.text
        )
    )
    signed = sign(team.key("bob"), __import__("json").loads(statement))
    done = c.post(
        f"/ui/requests/{pending}/decide",
        data={
            "decision": "approve", "reason": html.unescape(form["reason"]), "at": form["at"],
            "key": signed["key"], "sig": signed["sig"], "csrf": form["csrf"],
        },
    )  # fmt: skip
    assert done.status_code == 200, done.text
    assert "Your approval is recorded" in done.text and "promoted" in done.text
    assert request_state(team.ledger, pending).status == "promoted"


def test_what_a_reader_and_a_writer_may_not_do(team, pending):
    c = signed_in(team, "rita")
    page = c.get(f"/ui/requests/{pending}").text
    assert "hold no approver role for production" in page and "Approve…" not in page
    refused = c.post(
        f"/ui/requests/{pending}/sign", data={"decision": "approve", "csrf": csrf_of(page)}
    )
    assert refused.status_code == 403 and "no approver role" in refused.text
    c = signed_in(team, "wes")  # a writer, and the requester
    page = c.get(f"/ui/requests/{pending}").text
    forged = c.post(
        f"/ui/requests/{pending}/decide",
        data={"decision": "approve", "at": now(), "key": "ed25519:00", "sig": "00",
              "csrf": csrf_of(page)},
    )  # fmt: skip
    assert forged.status_code == 403
    c = signed_in(team, "bob")
    page = c.get(f"/ui/requests/{pending}").text
    no_csrf = c.post(f"/ui/requests/{pending}/sign", data={"decision": "approve", "csrf": "x"})
    assert no_csrf.status_code == 403 and "not from this session" in no_csrf.text
    other = sign(team.key("alice"), {"anything": 1})  # a signature that is not bob's, for this
    bad = c.post(
        f"/ui/requests/{pending}/decide",
        data={"decision": "approve", "at": now(), "key": other["key"], "sig": other["sig"],
              "csrf": csrf_of(page)},
    )  # fmt: skip
    assert bad.status_code in (403, 422)
    assert request_state(team.ledger, pending).status == "pending"  # nothing counted


def test_the_pages_an_auditor_reads(team, project):
    ledger = team.ledger
    raw = write(project / "raw" / "t.csv", "k,plan\n1,basic\n2,pro\n3,basic\n")
    base = snapshot(ledger, SnapshotRequest([raw.parent], "rows")).snapshot
    write(project / "clean" / "t.csv", "k,plan\n1,basic\n3,basic\n")
    clean = snapshot(
        ledger,
        SnapshotRequest([project / "clean"], "rows", inputs=[base.id], step="drop <pro>"),
    ).snapshot
    assert team.register("alice", b"w1").status_code == 201
    child = team.register("alice", b"w2", parent="churn@1", data=[f"{clean.id}:train"])
    assert child.status_code == 201, child.text
    v2 = child.json()["id"]
    c = signed_in(team, "rita")

    page = c.get("/ui/versions/churn@2").text
    for linked in (f"/ui/snapshots/{clean.id}", f"/ui/snapshots/{base.id}", "/ui/versions/"):
        assert f'href="{linked}' in page  # the graph and its list link every node
    assert "<svg" in page and "drop &lt;pro&gt;" in page and "<pro>" not in page

    diff = c.get("/ui/diff", params={"a": base.id, "b": clean.id}).text
    assert "pro (vanished)" in diff
    assert diff.index("vanished") < diff.index("Files")  # the vanished category first

    opened = team.open("wes", "churn@2")
    assert team.decide("bob", opened.json()["id"]).status_code == 200
    env = c.get("/ui/environments/production", params={"at": now()}).text
    assert "churn@2" in env and "approved by bob" in env and "Gate report" in env

    served = {"request_id": "r-42", "version_id": v2, "output": 1, "served_at": now()}
    log_predictions(ledger, [{**served, "features": {"x": 1}}], "production")
    found = c.get("/ui/find", params={"q": "r-42"})
    assert found.status_code == 200 and str(found.url).endswith("/ui/predictions/r-42")
    assert "churn@2" in found.text and "approved by bob" in found.text
    audit = c.get("/ui/audit", params={"kind": "promotion"}).text
    assert "promotion" in audit and "head is event #" in audit and "hashed again here" in audit
    newest = int(re.search(r"head is event #(\d+)", audit).group(1))
    alter_event(ledger, newest - 1, "actor", "mallory")
    altered = c.get("/ui/audit").text
    assert f"Event #{newest - 1} does not hash" in altered
    drift = c.get("/ui/drift/production")
    assert drift.status_code == 200 and "No drift alert recorded" in drift.text
    report = c.get("/ui/drift/production/report", params={"window": "24h"})
    assert report.status_code == 200 and "Drift report" in report.text
    assert (
        "<script" not in report.text
        and "script-src 'self'" in report.headers["content-security-policy"]
    )
    missing = c.get("/ui/versions/churn@9")
    assert missing.status_code == 404 and "churn@9" in missing.text


def test_mledger_ui_opens_a_local_ledger_for_one_person(ledger, project, tmp_path):
    """`mledger ui` binds 127.0.0.1 and prints the address that signs you in; nothing without
    its secret."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}
    env["MLEDGER_USER"] = "dana"
    if ledger.db.dialect != "sqlite":
        env["MLEDGER_DB_URL"] = ledger.config.db_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelledger.cli.app", "ui", "--port", "0"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert "the web UI for dana: open http://127.0.0.1:" in line, proc.stderr.read()
        address = line.split("open ", 1)[1].strip()
        base = address.split("/ui/", 1)[0]
        with httpx.Client(timeout=30) as c:
            for _ in range(300):  # the address is printed once bound; serving follows
                try:
                    first = c.get(f"{base}/ui/")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            assert first.status_code == 303  # not without the secret
            assert c.get(f"{base}/ui/login?token=mlu_guess").status_code == 401
            home = c.get(address, follow_redirects=True)
            assert home.status_code == 200 and "dana" in home.text and "Overview" in home.text
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # (and its pipes closed)
