"""The server's Prometheus metrics, read back through prometheus_client's own text parser."""

from __future__ import annotations

import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelledger.serving.metrics import NO_LABEL, ServingMetrics

MV = "mv-" + "a" * 64


def samples(metrics: ServingMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode("utf-8"))
        for s in family.samples
    }


def labels(**kw: str) -> frozenset[tuple[str, str]]:
    return frozenset(kw.items())


def test_requests_are_counted_by_status_and_timed():
    m = ServingMetrics("production")
    m.request(MV, "primary", 200, 0.002)
    m.request(MV, "primary", 200, 0.004)
    m.request(MV, "canary-1", 200, 0.3)
    m.request(MV, "primary", 422, 0.0001)
    m.request(None, None, 413, 0.0)
    got = samples(m)
    ok = labels(env="production", version=MV, arm="primary", status="200")
    assert got["mledger_requests_total", ok] == 2
    assert got["mledger_requests_total", labels(**{**dict(ok), "status": "422"})] == 1
    assert got["mledger_requests_total", labels(**{**dict(ok), "arm": "canary-1"})] == 1
    unrouted = labels(env="production", version=NO_LABEL, arm=NO_LABEL, status="413")
    assert got["mledger_requests_total", unrouted] == 1

    arm = labels(env="production", version=MV, arm="primary")
    assert got["mledger_request_seconds_count", arm] == 3
    assert got["mledger_request_seconds_sum", arm] == pytest.approx(0.0061)
    assert got["mledger_request_seconds_bucket", arm | {("le", "0.001")}] == 1
    assert got["mledger_request_seconds_bucket", arm | {("le", "0.005")}] == 3
    canary = labels(env="production", version=MV, arm="canary-1")
    assert got["mledger_request_seconds_bucket", canary | {("le", "0.25")}] == 0
    assert got["mledger_request_seconds_bucket", canary | {("le", "0.5")}] == 1
    assert got["mledger_request_seconds_bucket", canary | {("le", "+Inf")}] == 1


def test_journal_shadow_and_ledger_metrics():
    m = ServingMetrics("staging")
    env = labels(env="staging")
    got = samples(m)
    # known from the start: exported before anything is observed
    assert got["mledger_journal_backlog", env] == 0
    assert got["mledger_predictions_logged_total", env] == 0
    assert got["mledger_ledger_available", env] == 0

    m.backlog(120)
    m.backlog(7)
    m.fsync(0.0003)
    m.fsync(0.002)
    m.shadow_skipped("shadow")
    m.shadow_skipped("shadow", 4)
    m.predictions_logged(50)
    m.predictions_logged()
    m.ledger_available(True)
    got = samples(m)
    assert got["mledger_journal_backlog", env] == 7
    assert got["mledger_journal_fsync_seconds_count", env] == 2
    assert got["mledger_journal_fsync_seconds_sum", env] == pytest.approx(0.0023)
    assert got["mledger_journal_fsync_seconds_bucket", env | {("le", "0.0005")}] == 1
    assert got["mledger_shadow_skipped_total", labels(env="staging", arm="shadow")] == 5
    assert got["mledger_predictions_logged_total", env] == 51
    assert got["mledger_ledger_available", env] == 1
    m.ledger_available(False)
    assert samples(m)["mledger_ledger_available", env] == 0


def test_two_servers_in_one_process_do_not_share_counts():
    a, b = ServingMetrics("production"), ServingMetrics("production")
    a.request(MV, "primary", 200, 0.01)
    key = (
        "mledger_requests_total",
        labels(env="production", version=MV, arm="primary", status="200"),
    )
    assert samples(a)[key] == 1
    assert key not in samples(b)


def test_observing_from_many_threads_loses_nothing():
    m = ServingMetrics("production")

    def work() -> None:
        for i in range(1000):
            m.request(MV, f"arm-{i % 3}", 200, 0.001)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = samples(m)
    total = sum(v for (name, _), v in got.items() if name == "mledger_requests_total")
    assert total == 8000
