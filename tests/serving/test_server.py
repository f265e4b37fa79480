"""The prediction server: routing, contracts, logging, hot swap and refusals, through FastAPI's
TestClient on both backends; SIGTERM against a real `mledger serve` process."""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from modelledger.cli.app import app as cli_app
from modelledger.core.errors import NotFound
from modelledger.ledger.home import Ledger
from modelledger.models import systems
from modelledger.models.register import RegisterRequest, register
from modelledger.predictions.audit import audit_prediction
from modelledger.predictions.store.reads import known_requests
from modelledger.releases import environments as envs
from modelledger.releases.rollback import rollback
from modelledger.serving import routing
from modelledger.serving.app import create_app
from modelledger.serving.features import BadRequest, Contract
from modelledger.serving.hotswap import Server
from modelledger.serving.runtime import LoadedModel, make_scorer
from modelledger.serving.state import NotServable
from tests.models import fake_models
from tests.people import key_for, promote_approved

with warnings.catch_warnings():  # starlette asks for httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
SCALER = "python:tests.models.fake_models:make_scaler"
ENV = "production"
INPUTS = {"x": "float", "country": "category"}


def version(
    ledger: Ledger,
    project: Path,
    factor: float,
    *,
    loader: str | None = SCALER,
    inputs: dict[str, str] | None = INPUTS,
) -> Any:
    art = project / f"model-{factor}.json"
    art.write_text(json.dumps({"factor": factor}))
    req = RegisterRequest(
        name="fraud",
        artifact=art,
        loader=loader,
        code_ref=f"git+https://example.com/fraud@{int(factor * 10):040x}",
        card={"inputs": inputs} if inputs is not None else None,
    )
    return register(ledger, req).version


def features(x: float = 3.0, **extra: Any) -> dict[str, Any]:
    return {"x": x, "country": "de", **extra}


def wait_for(check: Callable[[], bool], seconds: float = 2.0) -> float:
    """Seconds until ``check()`` held; fails the test after ``seconds``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.02)
    return time.monotonic() - started


def count(ledger: Ledger) -> int:
    with ledger.db.read() as conn:
        return int(conn.execute(text("SELECT count(*) FROM predictions")).scalar_one())


@pytest.fixture
def serve(ledger: Ledger) -> Iterator[Callable[..., tuple[TestClient, Server]]]:
    """Start a server (polling every 50 ms) and its TestClient."""
    opened: list[tuple[TestClient, Server]] = []

    def start(limits: Any = None, **kw: Any) -> tuple[TestClient, Server]:
        server = Server(ledger, ENV, poll_interval=0.05, **kw)
        client = TestClient(create_app(server, limits))
        client.__enter__()
        opened.append((client, server))
        return client, server

    yield start
    for client, _ in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def live(ledger: Ledger, project: Path) -> list[Any]:
    """fraud@1 (×1) live in production; fraud@2 (×2) and fraud@3 (×3) registered."""
    vs = [version(ledger, project, f) for f in (1, 2, 3)]
    envs.create(ledger, ENV)
    promote_approved(ledger, vs[0].id, ENV)
    return vs


# -- answering and logging -----------------------------------------------------------------------


def test_single_and_batch_answers_are_logged_as_served(ledger, live, serve):
    v1 = live[0]
    client, server = serve()
    r = client.post("/predict", json={"request_id": "r-1", "features": features(4.0)})
    assert r.status_code == 200
    assert r.json() == {
        "request_id": "r-1",
        "prediction": 4.0,
        "version_id": v1.id,
        "arm": "primary",
    }
    minted = client.post("/predict", json={"features": features(1)}).json()["request_id"]
    batch = client.post(
        "/predict",
        json={
            "instances": [
                {"features": features(1)},
                {"request_id": "b-2", "features": features(2.5)},
            ]
        },
    ).json()["predictions"]
    assert [p["prediction"] for p in batch] == [1, 2.5] and batch[1]["request_id"] == "b-2"
    assert server.log.flush(timeout=10)
    found = audit_prediction(ledger, "r-1")
    assert (found["mode"], found["version_id"], found["arm"], found["output"]) == (
        "served",
        v1.id,
        "primary",
        4.0,
    )
    assert found["latency_ms"] >= 0 and found["role"] == "live"
    for rid in (minted, batch[0]["request_id"], "b-2"):
        assert audit_prediction(ledger, rid)["version_id"] == v1.id
    version_info = client.get("/version").json()
    assert version_info["live"] == v1.id and version_info["label"] == "fraud@1"
    assert [(a["arm"], a["id"], a["inputs"]) for a in version_info["arms"]] == [
        ("primary", v1.id, INPUTS)
    ]
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["journal"]["written"] == 4


def test_bad_input_is_422_naming_the_field_and_nothing_is_logged(ledger, live, serve):
    client, server = serve()
    cases = [
        ({"features": {"x": 1.0}}, "features.country", "missing feature 'country'"),
        ({"features": features(extra=1)}, "features.extra", "unexpected feature 'extra'"),
        ({"features": {"x": "1", "country": "de"}}, "features.x", "must be float"),
        ({"features": {"x": True, "country": "de"}}, "features.x", "must be float"),
        ({"features": {"x": None, "country": "de"}}, "features.x", "got null"),
        ({"features": [1, 2]}, "features", "expected an object"),
        ({"feature": features()}, "feature", "unknown field"),
        ({}, "features", "features is required"),
        ({"request_id": "has space", "features": features()}, "request_id", "printable ASCII"),
        ([1], "body", "JSON object"),
        (
            {"instances": [{"features": features()}, {"features": {"x": 1.0}}]},
            "instances[1].features.country",
            "missing feature 'country'",
        ),
        (
            {"instances": [{"request_id": "d", "features": features()}] * 2},
            "instances[1].request_id",
            "given twice",
        ),
        ({"instances": []}, "instances", "non-empty"),
    ]
    for body, field, message in cases:
        r = client.post("/predict", json=body)
        assert r.status_code == 422, body
        assert r.json()["field"] == field, (body, r.json())
        assert message in r.json()["detail"], (body, r.json())
    r = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "body"
    assert server.log.flush(timeout=10)
    assert count(ledger) == 0 and server.log.written == 0


def test_a_request_id_answered_before_is_409_and_never_answered_unlogged(ledger, live, serve):
    """Every answer is logged: a second request with a request id already answered (still
    queued in this server, or already written) is refused, single or in a batch, and the
    log keeps exactly one row for it."""
    client, server = serve()
    first = client.post("/predict", json={"request_id": "order-1", "features": features()})
    assert first.status_code == 200
    again = client.post("/predict", json={"request_id": "order-1", "features": features(x=9)})
    assert again.status_code == 409 and again.json()["field"] == "request_id"
    assert "order-1 was answered before" in again.json()["detail"]
    assert server.log.flush(timeout=10)
    later = client.post("/predict", json={"request_id": "order-1", "features": features()})
    assert later.status_code == 409  # written now: the store answers
    batch = {"instances": [{"request_id": "order-2", "features": features()},
                           {"request_id": "order-1", "features": features()}]}  # fmt: skip
    assert client.post("/predict", json=batch).status_code == 409
    # the refused batch reserved nothing: order-2 can still be answered once
    ok = client.post("/predict", json={"request_id": "order-2", "features": features()})
    assert ok.status_code == 200
    assert client.post("/predict", json={"features": features()}).status_code == 200
    assert server.log.flush(timeout=10)
    assert count(ledger) == 3 and server.log.rejected == 0


def test_nothing_live_is_503_until_a_promotion_is_picked_up(ledger, project, serve):
    v1 = version(ledger, project, 1)
    envs.create(ledger, ENV)
    client, _ = serve()
    r = client.post("/predict", json={"features": features()})
    assert r.status_code == 503 and "nothing is live in production" in r.json()["detail"]
    assert client.get("/health").status_code == 503
    assert client.get("/health").json()["status"] == "unavailable"
    promote_approved(ledger, v1.id, ENV)
    wait_for(lambda: client.post("/predict", json={"features": features()}).status_code == 200)
    assert client.get("/health").json()["status"] == "ok"


def test_unknown_environment_or_unservable_version_refuses_to_start(ledger, project):
    with pytest.raises(NotFound, match="prodution"):
        Server(ledger, "prodution")
    bare = version(ledger, project, 7, loader=None)
    envs.create(ledger, ENV)
    promote_approved(ledger, bare.id, ENV)
    with pytest.raises(NotServable, match="declares no loader"):
        Server(ledger, ENV)


# -- hot swap ------------------------------------------------------------------------------------


def test_promotion_and_rollback_are_picked_up_within_two_seconds(ledger, live, serve):
    v1, v2, _ = live
    client, _ = serve()

    def answer() -> dict[str, Any]:
        return dict(client.post("/predict", json={"features": features(3.0)}).json())

    assert answer()["prediction"] == 3.0
    promote_approved(ledger, v2.id, ENV)
    assert wait_for(lambda: answer()["version_id"] == v2.id) < 2.0
    assert answer()["prediction"] == 6.0
    rollback(ledger, ENV, [], "bad canary", key=key_for(ledger, "bob"))
    assert wait_for(lambda: answer()["version_id"] == v1.id) < 2.0
    health = client.get("/health").json()
    assert health["swaps"] == 2 and health["last_swap"]["to"] == v1.id
    assert client.get("/version").json()["live"] == v1.id


def test_a_request_in_flight_finishes_on_the_runtime_it_started_with(ledger, live, serve):
    v1, v2, _ = live
    _, server = serve(retry_after=0)
    server._stop.set()  # drive the swaps by hand
    before = server.runtime
    promote_approved(ledger, v2.id, ENV)
    assert server.poll_once() and server.runtime is not before
    assert server.handler.predict(before, {"features": features()}).answer["version_id"] == v1.id
    assert server.predict({"features": features()}).answer["version_id"] == v2.id
    assert not server.poll_once()  # nothing moved since


def test_corrupt_artifact_is_never_loaded_and_the_previous_version_keeps_serving(
    ledger, live, serve, monkeypatch
):
    v1, v2, _ = live
    client, _ = serve()
    # promotion re-verifies the bytes; here they rot after that check, before the server loads them
    monkeypatch.setattr("modelledger.releases.promote._require_intact", lambda *args: None)
    blob = ledger.blobs.path(v2.tuple.artifact.sha256)
    os.chmod(blob, 0o644)
    Path(blob).write_text(json.dumps({"factor": 666}))
    promote_approved(ledger, v2.id, ENV)
    wait_for(lambda: client.get("/health").json()["failed_swap"] is not None)
    health = client.get("/health").json()
    assert health["status"] == "degraded" and health["live"] == v1.id
    assert health["failed_swap"]["target"] == v2.id
    assert "corrupt" in health["failed_swap"]["error"]
    r = client.post("/predict", json={"features": features(3.0)}).json()
    assert (r["version_id"], r["prediction"]) == (v1.id, 3.0)
    rollback(ledger, ENV, [], "v2's bytes are corrupt", key=key_for(ledger, "bob"))
    wait_for(lambda: client.get("/health").json()["failed_swap"] is None)
    assert client.get("/health").json()["status"] == "ok"


# -- routing -------------------------------------------------------------------------------------


def test_canary_is_sticky_and_shadows_are_logged_but_never_returned(ledger, live, serve):
    v1, v2, v3 = live
    routing.set_route(
        ledger, ENV, [f"{v1.id}=50", f"{v2.id}=50"], [], [v3.id], "user", key=key_for(ledger, "bob")
    )
    client, server = serve()
    users = [f"user-{i}" for i in range(30)]
    first = {}
    for i, user in enumerate(users):
        body = {"request_id": f"q{i}", "features": features(1.0, user=user)}
        r = client.post("/predict", json=body).json()
        expected = routing.assign(ledger, ENV, user)
        assert (r["arm"], r["version_id"]) == (expected["arm"], expected["id"])
        assert r["prediction"] == (1.0 if r["version_id"] == v1.id else 2.0)
        first[user] = r["arm"]
    assert set(first.values()) == {"primary", "canary-1"}
    again = client.post("/predict", json={"features": features(1.0, user=users[0])}).json()
    assert again["arm"] == first[users[0]]  # sticky
    r = client.post("/predict", json={"features": features()})
    assert r.status_code == 422 and r.json()["field"] == "features.user"
    wait_for(lambda: server.shadows.scored == 31)
    assert server.log.flush(timeout=10)
    found = audit_prediction(ledger, "q0")
    assert found["mode"] == "served" and found["version_id"] != v3.id
    shadow = [a for a in found["answers"] if a["mode"] == "shadow"]
    assert [(a["version_id"], a["output"]) for a in shadow] == [(v3.id, 3.0)]
    info = client.get("/version").json()
    assert info["route_revision"] == 1 and info["sticky_key"] == "user"
    assert [a["id"] for a in info["arms"]] == [v1.id, v2.id]
    assert [s["id"] for s in info["shadows"]] == [v3.id]


def test_a_system_is_served_by_its_model_component(ledger, live, serve):
    _, v2, _ = live
    sys_ok, _ = systems.create(ledger, "fraud-sys", ["model=fraud@2", "helper=fraud@3"])
    sys_bad, _ = systems.create(ledger, "fraud-amb", ["a=fraud@2", "b=fraud@3"])
    promote_approved(ledger, sys_ok.id, ENV)
    client, _ = serve()
    r = client.post("/predict", json={"features": features(1.0)}).json()
    assert (r["version_id"], r["system_id"], r["prediction"]) == (v2.id, sys_ok.id, 2.0)
    promote_approved(ledger, sys_bad.id, ENV)
    wait_for(lambda: client.get("/health").json()["failed_swap"] is not None)
    error = client.get("/health").json()["failed_swap"]["error"]
    assert "pins 2 models" in error and "--component model=REF" in error
    assert (
        client.post("/predict", json={"features": features(1.0)}).json()["system_id"] == sys_ok.id
    )


def test_a_folder_artifact_is_written_out_and_a_failing_model_is_a_500(ledger, project, serve):
    folder = project / "weights"
    folder.mkdir()
    (folder / "params.json").write_text('{"factor": 5}')
    req = RegisterRequest(name="folder", artifact=folder, loader=SCALER, code_ref="r@1")
    v = register(ledger, req).version
    assert v.tuple.artifact.kind == "tree"
    envs.create(ledger, ENV)
    promote_approved(ledger, v.id, ENV)
    client, server = serve()
    assert client.post("/predict", json={"features": {"x": 2}}).json()["prediction"] == 10
    r = client.post("/predict", json={"features": {"y": 2}})  # no declared inputs: the model fails
    assert r.status_code == 500 and "KeyError" in r.json()["detail"]
    assert server.log.flush(timeout=10) and server.log.written == 1


# -- models and contracts without a ledger -------------------------------------------------------


def loaded(model: Any) -> LoadedModel:
    from modelledger.models.loaders import check_interface

    return LoadedModel("mv-x", "m@1", "pickle", model, tuple(check_interface(model)))


def test_contract_types():
    c = Contract(
        {"f": "float", "i": "int", "b": "bool", "s": "str", "c": "category", "t": "datetime"}
    )
    good = {"f": 1, "i": 2, "b": False, "s": "x", "c": 7, "t": "2024-05-01T12:00:00Z"}
    assert c.check(good) is good
    for name, bad in [("f", True), ("i", 2.0), ("b", 0), ("s", 1), ("c", 1.5), ("t", "yesterday")]:
        with pytest.raises(BadRequest) as caught:
            c.check({**good, name: bad})
        assert caught.value.field == f"features.{name}"
    assert Contract(None).check({"anything": [1]}) == {"anything": [1]}
    with pytest.raises(BadRequest, match="reserves"):
        Contract(None).check({"mode": 1})
    sticky = Contract({"f": "float"}, sticky_key="user")
    assert sticky.check({"f": 1.0, "user": "u"}) == {"f": 1.0}  # the model never sees it
    assert sticky.check({"f": 1.0}) == {"f": 1.0}


def test_scikit_learn_models_get_a_matrix_and_a_confidence():
    linear_model = pytest.importorskip("sklearn.linear_model")
    x = [[i / 10, (i * 7) % 5] for i in range(40)]
    y = [int(a + b > 2.5) for a, b in x]
    model = pickle.loads(pickle.dumps(linear_model.LogisticRegression().fit(x, y)))
    score = make_scorer(loaded(model), {"a": "float", "b": "float"})  # columns: sorted names
    answers = score([{"a": 0.0, "b": 0.0}, {"b": 4.0, "a": 3.0}])
    assert [p for p, _ in answers] == [0, 1]
    assert all(isinstance(p, int) and 0.5 <= c <= 1 for p, c in answers)
    from modelledger.models.loaders import LoadFailed

    with pytest.raises(LoadFailed, match="declares no inputs"):
        make_scorer(loaded(model), None)
    assert make_scorer(loaded(fake_models.ProbaOnly()), None)([{"x": 1}]) == [(0, 0.5)]
    assert make_scorer(loaded(fake_models.Scaler(3)), None)([{"x": 1}]) == [(3, None)]


# -- the CLI and SIGTERM -------------------------------------------------------------------------


def test_serve_with_an_unknown_environment_exits_2(ledger):
    result = CliRunner().invoke(cli_app, ["serve", "nope", "--port", "0"])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()  # one line, nothing else
    assert line.startswith("error: no environment named 'nope'")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_mid_load_logs_every_acknowledged_request(ledger, live, project, tmp_path, workers):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}
    env.update(PYTHONPATH=str(ROOT), MLEDGER_USER="alice")
    exe = Path(sys.executable).with_name("mledger")
    url = f"http://127.0.0.1:{port}"
    acked: list[str] = []
    lock = threading.Lock()

    def fire(worker: int) -> None:
        with httpx.Client(base_url=url) as client:
            for i in range(100_000):
                body = {"request_id": f"w{worker}-{i}", "features": features(float(i))}
                try:
                    r = client.post("/predict", json=body)
                except httpx.TransportError:
                    return  # the server has gone: nothing more is acknowledged
                if r.status_code == 200:
                    with lock:
                        acked.append(r.json()["request_id"])

    errors = tmp_path / "stderr.txt"
    with (
        open(errors, "w") as stderr,
        subprocess.Popen(
            [str(exe), "serve", ENV, "--port", str(port), "--workers", str(workers)],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as proc,
    ):
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith(f"serving {ENV} (fraud@1 mv-"), errors.read_text()
            many = f" with {workers} workers" if workers > 1 else ""
            assert line.rstrip().endswith(f"on {url}{many}")
            wait_for(lambda: _up(url), seconds=20)
            workers = [threading.Thread(target=fire, args=(w,)) for w in range(4)]
            for w in workers:
                w.start()
            wait_for(lambda: len(acked) >= 300, seconds=20)
            proc.send_signal(signal.SIGTERM)  # mid-load: the workers are still firing
            for w in workers:
                w.join(timeout=30)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode in (0, -signal.SIGTERM), errors.read_text()
    assert len(acked) >= 300
    with ledger.db.read() as conn:
        assert known_requests(conn, acked) == set(acked)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health").status_code == 200
    except httpx.TransportError:
        return False


# -- limits, values with no JSON form, and what operators read --------------------------------------


def test_bodies_past_the_limits_are_refused_never_a_500(ledger, live, serve):
    from modelledger.serving.limits import Limits

    client, server = serve(Limits(max_body_bytes=2_000, max_depth=8, max_instances=3))
    big = client.post("/predict", content=b'{"features": {"x": "' + b"a" * 5000 + b'"}}')
    assert big.status_code == 413 and big.json()["field"] == "body"
    deep = client.post("/predict", content=b"[" * 1000 + b"]" * 1000)
    assert deep.status_code == 422 and "deeper than 8" in deep.json()["detail"]
    many = client.post("/predict", json={"instances": [{"features": features()}] * 4})
    assert many.status_code == 422 and many.json()["field"] == "instances"
    assert server.log.flush(timeout=10) and count(ledger) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"request_id": "n-1", "features": {"x": NaN, "country": "de"}}', "features.x"),
        (b'{"request_id": "n-1", "features": {"x": 1e400, "country": "de"}}', "features.x"),
        (b'{"request_id": "n-1", "features": {"x": -Infinity, "country": "de"}}', "features.x"),
        (
            b'{"instances": [{"features": {"x": 1, "country": "de"}}, '
            b'{"request_id": "n-1", "features": {"x": Infinity, "country": "de"}}]}',
            "instances[1].features.x",
        ),
    ],
)
def test_values_with_no_json_form_are_refused_naming_the_field_and_never_logged(
    ledger, live, serve, body, field
):
    client, server = serve()
    r = client.post("/predict", content=body)
    assert r.status_code == 422 and r.json()["field"] == field
    assert server.log.flush(timeout=10) and count(ledger) == 0
    # the id was neither answered nor claimed: a proper request with it is answered
    ok = client.post("/predict", json={"request_id": "n-1", "features": features(1.0)})
    assert ok.status_code == 200


def test_metrics_openapi_and_docs(ledger, live, serve):
    client, server = serve()
    for i in range(3):
        assert client.post("/predict", json={"features": features(float(i))}).status_code == 200
    client.post("/predict", json={"features": {"x": 1}})  # 422: country missing
    assert server.log.flush(timeout=10)
    text_ = client.get("/metrics").text
    v1 = live[0].id
    assert (
        f'mledger_requests_total{{arm="primary",env="{ENV}",status="200",version="{v1}"}} 3.0'
        in text_
    )
    assert 'status="422"' in text_ and f'mledger_journal_backlog{{env="{ENV}"}} 0.0' in text_
    assert f'mledger_predictions_logged_total{{env="{ENV}"}} 3.0' in text_
    assert "mledger_journal_fsync_seconds_count" in text_
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    schema = json.dumps(doc)
    assert '"country"' in schema and '"x"' in schema
    page = client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "http://" not in page.text and "https://" not in page.text
