"""The web UI in a real browser: Debian's Chromium driven by Playwright against a real
`mledger server` (on SQLite; test_ui.py covers the pages on both backends). The four paths of the issue: the version behind a
request id, a pending promotion approved by an approver (the key signs in the browser) and
refused to a writer, a lineage graph clicked through, two snapshots compared. Each page is
photographed; with MLEDGER_UI_SCREENSHOTS=docs/ui the pictures land in the docs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelledger.data.snapshot import SnapshotRequest, snapshot
from modelledger.ledger.home import now
from modelledger.models.register import RegisterRequest, register
from modelledger.predictions.ingest import log_predictions
from modelledger.releases.signatures import sign_decision
from modelledger.releases.workflow import show as request_state
from tests.conftest import write
from tests.people import key_file
from tests.server.conftest import make_team

CHROMIUM = "/usr/bin/chromium"
NARROW = 375  # px: a phone held upright
# The browser drives the same pages on either backend; the pages' PostgreSQL side is proven by
# test_ui.py over HTTP. One backend here spares the suite a browser per test and backend.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def chromium():
    """One browser for the module (each test opens its own contexts)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def site(ledger, project, tmp_path, chromium):
    """A team's ledger with two snapshots (one derived from the other), churn@1 live in
    production and answering request r-7, churn@2 (trained on the derived snapshot, child of
    churn@1) waiting for approval; a server over it and a browser."""
    from tests.server.test_replicas import start

    secrets = make_team(ledger, project)
    raw = write(project / "raw" / "accounts.csv", "id,plan\n1,basic\n2,pro\n3,basic\n4,pro\n")
    base = snapshot(ledger, SnapshotRequest([raw.parent], "accounts")).snapshot
    write(project / "clean" / "accounts.csv", "id,plan\n1,basic\n3,basic\n")
    clean = snapshot(
        ledger, SnapshotRequest([project / "clean"], "accounts", inputs=[base.id], step="dedupe")
    ).snapshot
    one = register(
        ledger, RegisterRequest.of("churn", write(project / "m1.bin", "w1"), code_ref="git@x:c#1")
    ).version
    two = register(
        ledger,
        RegisterRequest.of(
            "churn", write(project / "m2.bin", "w2"), code_ref="git@x:c#2", parent=one.id,
            data=[f"{clean.id}:train"],
        ),
    ).version  # fmt: skip
    from modelledger.releases import promote as promotion
    from modelledger.releases import workflow
    from tests.people import key_of

    wes = key_of(project, "wes")
    first = promotion.promote(ledger, one.id, "production", "first", False, None, wes, "7d")
    shown = workflow.show(ledger, first.request.id).to_json()
    workflow.record_decision(ledger, _approval(shown, key_of(project, "bob"), "bob"), "bob")
    served = {"request_id": "r-7", "version_id": one.id, "output": 1, "served_at": now()}
    log_predictions(ledger, [{**served, "features": {"plan": "basic"}}], "production")
    pending = promotion.promote(ledger, two.id, "production", "better", False, None, wes, "7d")
    proc, url = start(project, tmp_path / "server.log")
    shots = Path(os.environ.get("MLEDGER_UI_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield {
            "browser": chromium, "base": url.removesuffix("/api/v1"), "tokens": secrets,
            "request": pending.request.id, "snapshots": (base, clean), "shots": shots,
            "project": project, "ledger": ledger,
        }  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _approval(shown, key, who):
    from modelledger.releases.requests import Approval

    body = sign_decision(shown, key, who, "approve", None, at=now())
    return Approval(shown["id"], "approve", None, who, body["at"], body["signed"])


def signed_in(site, who, width=1100):
    context = site["browser"].new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(site["base"] + "/ui/")
    assert "/ui/login" in page.url  # every page asks for a sign-in first
    page.get_by_label("Token").fill(site["tokens"][who])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/")
    return page


def shot(site, page, name):
    path = site["shots"] / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000


def test_the_version_behind_a_request_id(site):
    page = signed_in(site, "rita")
    shot(site, page, "overview")
    page.get_by_label("Find").fill("r-7")
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/predictions/r-7")
    assert "churn@1" in page.inner_text("main") and "approved by bob" in page.inner_text("main")
    shot(site, page, "prediction")
    page.get_by_role("link", name="churn@1").first.click()
    page.wait_for_url("**/ui/versions/mv-*")
    assert page.get_by_role("heading", name="churn@1").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1100


def test_an_approver_approves_and_a_writer_cannot(site):
    rid = site["request"]
    page = signed_in(site, "wes")
    page.goto(f"{site['base']}/ui/requests/{rid}")
    assert "hold no approver role" in page.inner_text("main")
    assert page.get_by_role("button", name="Approve…").count() == 0
    page = signed_in(site, "bob")
    page.get_by_role("link", name="Requests").click()
    page.get_by_role("link", name=rid[:15]).click()
    shot(site, page, "request")
    page.get_by_label("Reason").fill("recall is up on new accounts")
    page.get_by_role("button", name="Approve…").click()
    assert '"decision":"approve"' in page.inner_text("#statement")
    page.get_by_label("Your signing key").set_input_files(str(key_file(site["project"], "bob")))
    shot(site, page, "sign")
    page.get_by_role("button", name="Sign and approve").click()
    page.wait_for_selector("text=Your approval is recorded")
    assert "promoted" in page.inner_text("main")
    assert request_state(site["ledger"], rid).status == "promoted"
    page.goto(f"{site['base']}/ui/environments/production")
    assert "approved by bob" in page.inner_text("main")
    shot(site, page, "environment")


def test_a_lineage_graph_read_and_clicked_through(site):
    base, clean = site["snapshots"]
    page = signed_in(site, "rita")
    page.goto(f"{site['base']}/ui/versions/churn@2")
    graph = page.locator(".graph svg")
    assert graph.is_visible() and "lineage of churn@2" in graph.inner_html()
    shot(site, page, "version")
    page.locator(f'.graph a[href="/ui/snapshots/{clean.id}"]').click()
    page.wait_for_url(f"**/ui/snapshots/{clean.id}")
    assert "dedupe" in page.inner_text("main") and base.id[:15] in page.inner_text("main")
    shot(site, page, "snapshot")


def test_two_snapshots_compared_on_a_narrow_screen(site):
    base, clean = site["snapshots"]
    page = signed_in(site, "rita", width=NARROW)
    page.goto(f"{site['base']}/ui/snapshots/{base.id}")
    page.get_by_label("The later snapshot").select_option(clean.id)
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/ui/diff?*")
    text = page.inner_text("main")
    assert "pro (vanished)" in text and text.index("vanished") < text.index("Files")
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW + 1  # no sideways
    shot(site, page, "diff")
    page.goto(f"{site['base']}/ui/audit")
    shot(site, page, "audit")
    page.goto(f"{site['base']}/ui/drift/production")
    assert "No drift alert recorded" in page.inner_text("main")
    shot(site, page, "drift")
