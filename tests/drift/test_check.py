"""Drift monitoring end to end, on SQLite and PostgreSQL: a reference profile taken at
registration, served traffic with features and feedback, and `drift check` finding input, output,
quality and protected-slice drift, recording events and posting a signed webhook."""

import json
import random
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from modelledger.cli.app import app
from modelledger.client import log_predictions
from modelledger.core.clock import format_time
from modelledger.data.snapshot import SnapshotRequest, snapshot
from modelledger.drift import alerts as drift_alerts
from modelledger.drift.baseline import take_baseline
from modelledger.drift.check import check
from modelledger.drift.explain import explain
from modelledger.drift.hook import ProfileHook
from modelledger.drift.policy import parse_drift_policy
from modelledger.models.register import RegisterRequest, register
from modelledger.releases import environments as envs
from tests.conftest import write
from tests.people import promote_approved

REGIONS = ["north", "south", "east", "west"]
POLICY = {"slices": {"new_routes": {"route": "new"}}, "slice_min": 0.8, "quality": {"min": 0.7}}


def cli(*args, code=0):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "160"})
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


def training_csv(rng: random.Random, rows: int = 800) -> str:
    lines = ["amount,region,route,late"]
    for _ in range(rows):
        amount = rng.gauss(50, 10)
        lines.append(
            f"{amount:.3f},{rng.choice(REGIONS)},{rng.choice(['new', 'old'])},{int(amount > 55)}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture
def served(ledger, project):
    """delay@1 trained on a tabular snapshot (label `late`), live in production."""
    rng = random.Random(7)
    data = write(project / "train" / "part.csv", training_csv(rng))
    snap = snapshot(ledger, SnapshotRequest([data.parent], "trips")).snapshot
    card = {"label": "late", "inputs": {"amount": "float", "region": "str", "route": "str"}}
    art = write(project / "model.bin", "weights")
    req = RegisterRequest(
        name="delay", artifact=art, code_ref="x", data=[f"{snap.id}:train"], card=card
    )
    result = register(ledger, req, hooks=[ProfileHook()])
    envs.create(ledger, "production")
    promote_approved(ledger, result.version.id, "production")
    return result


def traffic(version_id, n, *, shifted, start, rng, prefix="r"):
    """n served predictions over the hour after ``start``; shifted traffic has lost the region
    `west`, has larger amounts, and is wrong on half of the new routes."""
    records, feedback = [], []
    for i in range(n):
        amount = rng.gauss(65 if shifted else 50, 10)
        region = rng.choice(REGIONS[:3] if shifted else REGIONS)
        route = rng.choice(["new", "old"])
        rid = f"{prefix}{i}"
        late = int(amount > 55)
        records.append(
            {
                "request_id": rid,
                "version_id": version_id,
                "output": late,
                "served_at": format_time(start + timedelta(seconds=i * 3600 / n)),
                "features": {"amount": amount, "region": region, "route": route},
            }
        )
        wrong = shifted and route == "new" and i % 2 == 0
        feedback.append({"request_id": rid, "was_correct": not wrong})
    return records, feedback


def feed(project, items, name):
    path = write(project / name, "".join(json.dumps(i) + "\n" for i in items))
    cli("feedback", "import", str(path))


def test_registration_takes_a_reference_profile(served):
    assert served.extras["drift_profile"] is not None
    assert (
        served.extras["drift_profile"].features == 3
    )  # the label is the output's reference, not an input
    assert served.extras["drift_profile"].source == "training"
    assert served.extras["drift_profile"].rows == 800


def test_shift_on_a_protected_slice_alerts_with_evidence(ledger, project, served, tmp_path):
    vid = served.version.id
    rng = random.Random(1)
    now = datetime.now(UTC)
    records, feedback = traffic(vid, 600, shifted=True, start=now - timedelta(hours=2), rng=rng)
    log_predictions(records, "production", ledger)
    feed(project, feedback, "fb.jsonl")
    write(project / "drift.yaml", json.dumps(POLICY))

    result = cli(
        "drift", "check", "production", "--window", "24h", "--policy", "drift.yaml",
        "--trigger-retrain", "--html", str(tmp_path / "report.html"), "--json", code=1,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert report["status"] == "alert"
    (version,) = report["versions"]
    assert version["reference"]["source"] == "training"
    signals = {(s["kind"], s["name"]): s for s in version["signals"]}
    region = signals[("input", "region")]
    assert region["status"] == "alert"
    assert "west" in region["details"]["vanished_categories"]
    assert signals[("input", "amount")]["status"] == "alert"
    assert signals[("input", "amount")]["details"]["ks_p"] < 0.01
    assert signals[("input", "route")]["status"] == "ok"
    assert signals[("output", "output")]["status"] in ("warn", "alert")
    quality = signals[("quality", "accuracy")]
    assert quality["status"] == "ok" and quality["value"] > 0.7  # the aggregate looks fine…
    slice_ = signals[("slice", "new_routes")]
    assert slice_["status"] == "alert" and slice_["value"] < 0.8  # …the slice does not
    assert slice_["threshold"] == 0.8

    kinds = [e["kind"] for e in json.loads(cli("audit", "log", "--json").stdout)]
    assert kinds.count("drift_alert") == len(report["alerts"]) >= 3
    assert kinds.count("retrain_triggered") == 1
    assert cli("audit", "verify").exit_code == 0
    page = (tmp_path / "report.html").read_text()
    assert "<svg" in page and "new_routes" in page

    places = explain(
        ledger, "production", version=vid, window="24h", policy=parse_drift_policy(POLICY)
    )
    assert places["places"][0]["where"] in ("slice new_routes", "route = new")
    assert places["failures"] > 0


def test_unchanged_traffic_is_ok(ledger, project, served):
    rng = random.Random(2)
    now = datetime.now(UTC)
    records, feedback = traffic(
        served.version.id, 600, shifted=False, start=now - timedelta(hours=2), rng=rng
    )
    log_predictions(records, "production", ledger)
    feed(project, feedback, "fb.jsonl")
    found = check(ledger, "production", window="24h", policy=parse_drift_policy(POLICY))
    statuses = {(s.kind, s.name): s.status for v in found.versions for s in v.signals}
    assert statuses[("input", "amount")] in ("ok", "warn")
    assert statuses[("input", "region")] in ("ok", "warn")
    assert statuses[("slice", "new_routes")] == "ok"
    assert found.status != "alert"
    assert not found.alerts()


def test_no_predictions_is_insufficient_not_ok(served):
    # nothing could be judged: exit 3, so that a script does not take it for a clean bill
    result = cli("drift", "check", "production", "--window", "1h", "--json", code=3)
    report = json.loads(result.stdout)
    assert report["status"] == "insufficient"
    assert "no predictions" in report["message"]
    human = cli("drift", "check", "production", "--window", "1h", code=3).stdout
    assert "insufficient" in human


def test_few_observations_are_insufficient(ledger, served):
    rng = random.Random(3)
    now = datetime.now(UTC)
    records, _ = traffic(
        served.version.id, 20, shifted=True, start=now - timedelta(hours=1), rng=rng
    )
    log_predictions(records, "production", ledger)
    found = check(ledger, "production", window="24h")
    statuses = {s.name: s.status for v in found.versions for s in v.signals}
    assert statuses["amount"] == "insufficient"
    assert statuses["accuracy"] == "insufficient"
    # the check judged something, or it exits 3 (nothing to act on)
    judged = [name for name, status in statuses.items() if status != "insufficient"]
    cli("drift", "check", "production", "--window", "24h", code=0 if judged else 3)


def test_disappeared_feature_and_new_categories(ledger, served):
    now = datetime.now(UTC)
    records = [
        {
            "request_id": f"n{i}",
            "version_id": served.version.id,
            "output": 0,
            "served_at": format_time(now - timedelta(minutes=i + 1)),
            "features": {"amount": 50.0 + i % 7, "region": ["mars", "north"][i % 2]},
        }
        for i in range(200)
    ]
    log_predictions(records, "production", ledger)
    found = check(ledger, "production", window="24h")
    signals = {(s.kind, s.name): s for v in found.versions for s in v.signals}
    gone = signals[("missing_feature", "route")]
    assert gone.status == "alert" and "disappeared" in gone.message
    region = signals[("input", "region")]
    assert region.details["new_categories"] == {"mars": 100}
    assert region.value is not None and region.value < float("inf")


def test_version_without_profile_says_how_to_make_one(ledger, project):
    art = write(project / "m.bin", "w")
    vid = register(ledger, RegisterRequest(name="plain", artifact=art, code_ref="x")).version.id
    envs.create(ledger, "staging")
    promote_approved(ledger, vid, "staging")
    now = datetime.now(UTC)
    rng = random.Random(4)
    records, _ = traffic(vid, 300, shifted=False, start=now - timedelta(hours=3), rng=rng)
    log_predictions(records, "staging", ledger)

    found = check(ledger, "staging", window="24h")
    reference = [s for v in found.versions for s in v.signals if s.kind == "reference"]
    assert reference and "drift baseline staging" in reference[0].message

    taken = take_baseline(ledger, "staging", window="24h")
    assert taken["source"] == "traffic" and taken["features"] == 3
    again = check(ledger, "staging", window="24h")
    statuses = {s.name: s.status for v in again.versions for s in v.signals}
    assert statuses["amount"] == "ok" and statuses["region"] == "ok"


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[bytes, str]]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers[drift_alerts.SIGNATURE_HEADER]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_posts_signed_alert(ledger, project, served, monkeypatch):
    rng = random.Random(5)
    now = datetime.now(UTC)
    records, _ = traffic(
        served.version.id, 300, shifted=True, start=now - timedelta(hours=1), rng=rng
    )
    log_predictions(records, "production", ledger)
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        cli("drift", "check", "production", "--webhook", url, code=2)  # no secret: refused
        assert not _Receiver.received
        monkeypatch.setenv(drift_alerts.SECRET_VARIABLE, "s3cret")
        cli("drift", "check", "production", "--webhook", url, "--trigger-retrain", code=1)
    finally:
        server.shutdown()
        server.server_close()
    ((body, header),) = _Receiver.received
    assert drift_alerts.verify("s3cret", body, header)
    payload = json.loads(body)
    assert payload["kind"] == "drift_alert" and payload["alerts"]
    assert payload["retrain_triggered"][0]["version_id"] == served.version.id


def test_policy_typo_is_named(served, project):
    write(project / "bad.yaml", "psi: {warn: 0.1, alrt: 0.3}\n")
    result = cli("drift", "check", "production", "--policy", "bad.yaml", code=2)
    assert "alrt" in result.stderr and "alert" in result.stderr


def test_python_api(ledger, project, served):
    from modelledger import client as ml

    rng = random.Random(6)
    now = datetime.now(UTC)
    records, _ = traffic(
        served.version.id, 300, shifted=True, start=now - timedelta(hours=1), rng=rng
    )
    ml.log_predictions(records, "production", ledger)
    found = ml.drift_check("production", policy=POLICY, trigger_retrain=True, ledger=ledger)
    assert found["status"] == "alert" and found["events"]
    quiet = ml.drift_check("production", record=False, ledger=ledger)
    assert quiet["events"] == []


def test_retrain_on_the_same_data_shares_the_profile(ledger, project, served, monkeypatch):
    from modelledger.drift import profiles as drift_profiles

    def must_not_read(*_args):
        raise AssertionError("the training data was profiled again")

    monkeypatch.setattr(drift_profiles, "training_profile", must_not_read)
    art = write(project / "model2.bin", "weights 2")
    data = [f"{d.snapshot_id}:train" for d in served.version.tuple.data]
    card = {"label": "late", "inputs": {"amount": "float", "region": "str", "route": "str"}}
    again = register(
        ledger,
        RegisterRequest(name="delay", artifact=art, code_ref="x", data=data, card=card),
        hooks=[ProfileHook()],
    )
    shared_profile = again.extras["drift_profile"]
    assert shared_profile is not None
    assert shared_profile.sha256 == served.extras["drift_profile"].sha256
    log = json.loads(cli("audit", "log", "--json").stdout)
    shared = [e for e in log if e["kind"] == "drift.profile" and e["subject"] == again.version.id]
    assert shared[0]["payload"]["shared_from"] == served.version.id


def test_identifier_columns_are_not_profiled(ledger, project):
    rng = random.Random(9)
    lines = ["customer_id,region,late"] + [
        f"C-{i:05d},{rng.choice(REGIONS)},{i % 2}" for i in range(400)
    ]
    data = write(project / "ids" / "part.csv", "\n".join(lines) + "\n")
    snap = snapshot(ledger, SnapshotRequest([data.parent], "with-ids")).snapshot
    art = write(project / "m.bin", "w")
    req = RegisterRequest(
        name="ided", artifact=art, code_ref="x", data=[f"{snap.id}:train"], card={"label": "late"}
    )
    result = register(ledger, req, hooks=[ProfileHook()])
    assert (
        result.extras["drift_profile"] is not None and result.extras["drift_profile"].features == 1
    )  # region only
    from modelledger.drift.profiles import latest_profile

    stored = latest_profile(ledger, result.version.id)
    assert stored is not None and set(stored[1].features) == {"region"}
    assert b"C-00001" not in ledger.blobs.get(stored[0].sha256)


def test_a_corrupt_prediction_segment_is_refused_not_read(ledger, project, served):
    """A reader verifies what it reads: a segment whose bytes changed is named, never counted."""
    import os

    from modelledger.core.errors import CheckFailed
    from modelledger.predictions.store.reads import segments

    rng = random.Random(3)
    records, _ = traffic(
        served.version.id, 200, shifted=False, start=datetime.now(UTC) - timedelta(hours=1), rng=rng
    )
    log_predictions(records, "production", ledger)
    with ledger.db.read() as conn:
        [segment] = segments(conn, "production")
    path = ledger.blobs.path(segment["id"])
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(64)
        f.write(b"\xff\xfe")
    with pytest.raises(CheckFailed, match=r"prediction segment .* is corrupt"):
        check(ledger, "production", window="24h", policy=parse_drift_policy(POLICY))
