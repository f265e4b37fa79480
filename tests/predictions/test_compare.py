"""`predictions compare` through the service and the CLI, on SQLite and PostgreSQL: counts and
shares per arm, latency percentiles, accuracy with its interval from the newest feedback, shadows
apart, the window, and the verdict."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from modelledger.cli.app import app
from modelledger.client import log_predictions
from modelledger.core.clock import format_time
from modelledger.core.errors import InvalidInput, NotFound
from modelledger.core.stats import wilson_interval
from modelledger.models.register import RegisterRequest, register
from modelledger.predictions.compare import compare
from modelledger.predictions.store.arms import (
    arm_counts,
    arm_feedback,
    arm_latency_percentiles,
)
from modelledger.predictions.store.window import log_window
from modelledger.releases import environments as envs
from tests.conftest import write
from tests.people import promote_approved

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def at(hours_ago: float) -> str:
    return format_time(NOW - timedelta(hours=hours_ago))


@pytest.fixture
def fraud(ledger, project):
    """fraud@1 live in production; fraud@2 and fraud@3 registered beside it."""
    ids = []
    for n in (1, 2, 3):
        art = write(project / f"model{n}.bin", f"weights {n}")
        req = RegisterRequest(name="fraud", artifact=art, code_ref="x", params={"n": n})
        ids.append(register(ledger, req).version.id)
    envs.create(ledger, "production")
    promote_approved(ledger, ids[0], "production")
    return ids


def record(rid, version, arm="primary", mode="served", output=1, latency=None, when=1.0, conf=None):
    out = {
        "request_id": rid,
        "version_id": version,
        "arm": arm,
        "mode": mode,
        "output": output,
        "served_at": at(when),
        "features": {"x": 1},
    }
    if latency is not None:
        out["latency_ms"] = latency
    if conf is not None:
        out["confidence"] = conf
    return out


def cli(*args, code=0):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "120"})
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


def give_feedback(project, items, name="feedback.jsonl"):
    path = write(project / name, "".join(json.dumps(i) + "\n" for i in items))
    report = json.loads(cli("feedback", "import", str(path), "--json").stdout)
    assert report["recorded"] == len(items)


def by_name(result):
    return {a.name: a for a in result.arms}


def test_counts_shares_latency_and_shadows(ledger, fraud):
    v1, v2, v3 = fraud
    records = [
        record(f"p{i}", v1, latency=float(i), conf=0.5 + (i % 2) * 0.25) for i in range(1, 101)
    ]
    records += [record(f"c{i}", v2, arm="canary-1", latency=10.0) for i in range(50)]
    # A shadow scores every primary request under the same request id, whatever its arm name.
    records += [
        record(f"p{i}", v3, arm="shadow-x", mode="shadow", latency=2.0) for i in range(1, 101)
    ]
    records += [record("p0", v1, arm=None, latency=None)]  # served without an arm nor latency
    log_predictions(records, "production", ledger=ledger)

    result = compare(ledger, "production", "24h", now=NOW)
    assert (result.served, result.shadow) == (151, 100)
    arms = by_name(result)
    assert list(arms) == ["primary", "canary-1", "(no arm)", "shadow fraud@3"]
    primary, canary, loose, shadow = arms.values()
    assert (primary.count, canary.count, loose.count, shadow.count) == (100, 50, 1, 100)
    assert primary.share == pytest.approx(100 / 151)
    assert canary.share == pytest.approx(50 / 151)
    assert shadow.share == pytest.approx(100 / 151)  # the part of served traffic it scored
    assert (primary.label, canary.label, shadow.label) == ("fraud@1", "fraud@2", "fraud@3")
    assert (primary.version_id, shadow.version_id, shadow.arm) == (v1, v3, None)
    assert primary.latency.n == 100
    assert primary.latency.p50 == pytest.approx(50.5)
    assert primary.latency.p95 == pytest.approx(95.05)
    assert primary.latency.p99 == pytest.approx(99.01)
    assert (canary.latency.p50, canary.latency.p99) == (10.0, 10.0)
    assert shadow.latency.p95 == 2.0
    assert loose.latency.n == 0 and loose.latency.p50 is None
    assert primary.mean_confidence == pytest.approx(0.625)
    assert primary.confidence_n == 100 and canary.mean_confidence is None
    assert all(a.quality is None for a in result.arms)
    assert "exactly two" in result.verdict.text

    data = result.to_json()
    assert data["arms"][0]["latency_ms"] == {
        "n": 100,
        "p50": pytest.approx(50.5),
        "p95": pytest.approx(95.05),
        "p99": pytest.approx(99.01),
    }
    assert data["arms"][3]["name"] == "shadow fraud@3"
    assert data["arms"][3]["mode"] == "shadow"


def test_accuracy_from_the_newest_feedback_with_labels_and_was_correct(ledger, project, fraud):
    v1, v2, v3 = fraud
    records = [record(f"p{i}", v1, output=i % 2) for i in range(10)]
    records += [record(f"c{i}", v2, arm="canary-1", output={"k": 2.0}) for i in range(4)]
    records += [record(f"p{i}", v3, mode="shadow", output=1) for i in range(10)]
    records += [record("none", v1, output=1)]  # no feedback at all: not counted
    log_predictions(records, "production", ledger=ledger)
    give_feedback(
        project,
        # primary: p0-p5 judged by was_correct (which wins over a label that disagrees), p6-p9
        # by label: p6 (output 0, label 0) and p7 (output 1, label 1) right, p8 and p9 wrong.
        [{"request_id": f"p{i}", "was_correct": i < 4, "label": 5} for i in range(6)]
        + [{"request_id": f"p{i}", "label": int(i < 8) * (i % 2)} for i in range(6, 8)]
        + [{"request_id": f"p{i}", "label": 7} for i in range(8, 10)]
        # canary: {"k": 2.0} equals the label {"k": 2} as canonical JSON; c1 is wrong.
        + [{"request_id": "c0", "label": {"k": 2}}, {"request_id": "c1", "label": {"k": 3}}]
        # c2 has only was_correct; c3 gets a wrong label, then a later correction.
        + [{"request_id": "c2", "was_correct": True}, {"request_id": "c3", "label": {"k": 9}}],
    )
    give_feedback(project, [{"request_id": "c3", "label": {"k": 2.0}}], name="later.jsonl")

    arms = by_name(compare(ledger, "production", "24h", now=NOW))
    primary, canary, shadow = arms["primary"], arms["canary-1"], arms["shadow fraud@3"]
    assert (primary.quality.n, primary.quality.successes) == (10, 6)
    assert (primary.quality.low, primary.quality.high) == pytest.approx(wilson_interval(6, 10))
    assert (canary.quality.n, canary.quality.successes) == (4, 3)
    # The shadow answered 1 everywhere; only labels judge it: p0-p5 (label 5) wrong, p6 (label
    # 0) wrong, p7 (label 1) right, p8 and p9 (label 7) wrong.
    assert (shadow.quality.n, shadow.quality.successes) == (10, 1)
    assert "too little feedback" in compare(ledger, "production", "24h", now=NOW).verdict.text


def _ab(ledger, project, fraud, primary_ok, canary_ok, n):
    v1, v2, _ = fraud
    records = [record(f"p{i}", v1, output=1, latency=5.0) for i in range(n)]
    records += [record(f"c{i}", v2, arm="canary-1", output=1, latency=7.0) for i in range(n)]
    log_predictions(records, "production", ledger=ledger)
    give_feedback(
        project,
        [{"request_id": f"p{i}", "was_correct": i < primary_ok} for i in range(n)]
        + [{"request_id": f"c{i}", "was_correct": i < canary_ok} for i in range(n)],
    )


def test_verdict_names_a_winner_when_significant(ledger, project, fraud):
    _ab(ledger, project, fraud, primary_ok=60, canary_ok=95, n=100)
    result = compare(ledger, "production", "24h", now=NOW)
    assert result.verdict.significant
    assert result.verdict.winner.label == "fraud@2"
    assert result.verdict.text.startswith("fraud@2 is better: 0.950 [0.89, 0.98] vs 0.600 [")
    data = result.to_json()
    assert data["verdict"]["winner"]["name"] == "canary-1"
    assert data["arms"][1]["quality"]["accuracy"] == 0.95
    assert data["arms"][1]["feedback_n"] == 100


def test_verdict_not_significant_on_too_little_feedback(ledger, project, fraud):
    _ab(ledger, project, fraud, primary_ok=0, canary_ok=29, n=29)
    result = compare(ledger, "production", "24h", now=NOW)
    assert not result.verdict.significant and result.verdict.winner is None
    assert "fraud@1 (primary) has 29 feedback row(s)" in result.verdict.text
    assert "fraud@2 (canary-1) has 29 feedback row(s)" in result.verdict.text


def test_window_since_and_until(ledger, fraud):
    v1, v2, _ = fraud
    records = [record(f"old{i}", v1, when=48 + i) for i in range(3)]
    records += [record(f"new{i}", v1, when=1 + i / 10) for i in range(5)]
    records += [record("canary", v2, arm="canary-1", when=30)]
    log_predictions(records, "production", ledger=ledger)
    assert by_name(compare(ledger, "production", "24h", now=NOW))["primary"].count == 5
    everything = compare(ledger, "production", "7d", now=NOW)
    assert by_name(everything)["primary"].count == 8 and by_name(everything)["canary-1"].count == 1
    iso = compare(ledger, "production", at(30), now=NOW)  # since is inclusive
    assert {a.name: a.count for a in iso.arms} == {"primary": 5, "canary-1": 1}
    assert iso.since == at(30)
    until = compare(ledger, "production", "3d", until="24h", now=NOW)  # until is exclusive
    assert {a.name: a.count for a in until.arms} == {"primary": 3, "canary-1": 1}
    assert until.until == at(24)
    empty = compare(ledger, "production", "30m", now=NOW)
    assert empty.empty and empty.to_json()["arms"] == []
    assert empty.verdict.text == "no predictions in the window"
    with pytest.raises(InvalidInput, match="--until '2d' is not after --since '24h'"):
        compare(ledger, "production", "24h", until="2d", now=NOW)


def test_bad_since_and_unknown_env(ledger, fraud):
    with pytest.raises(InvalidInput, match="--since 'yesterday'"):
        compare(ledger, "production", "yesterday", now=NOW)
    with pytest.raises(NotFound, match="no environment named 'staging'"):
        compare(ledger, "staging", "24h", now=NOW)


def test_cli(ledger, project, fraud):
    _ab(ledger, project, fraud, primary_ok=60, canary_ok=95, n=100)
    since = at(24)
    human = cli("predictions", "compare", "production", "--since", since).stdout
    for expected in (
        "primary",
        "canary-1",
        "fraud@1",
        "fraud@2",
        "50.0%",
        "0.950 [0.89, 0.98]",
        "fraud@2 is better",
        "200 served",
    ):
        assert expected in human, (expected, human)
    data = json.loads(
        cli("predictions", "compare", "production", "--since", since, "--json").stdout
    )
    assert [a["name"] for a in data["arms"]] == ["primary", "canary-1"]
    assert data["arms"][0]["latency_ms"]["p99"] == 5.0
    assert data["verdict"]["significant"] is True
    assert data["since"] == since and data["until"] is None

    bad = cli("predictions", "compare", "production", "--since", "last tuesday", code=2)
    assert bad.stderr.strip().count("\n") == 0
    assert "--since 'last tuesday'" in bad.stderr
    missing = cli("predictions", "compare", "nowhere", "--json", code=2)
    assert "no environment named 'nowhere'" in missing.stderr and missing.stdout == ""


def test_cli_empty_window(ledger, fraud):
    out = cli("predictions", "compare", "production", "--since", "2h").stdout
    assert out.startswith("no predictions in the window (production, ")
    data = json.loads(cli("predictions", "compare", "production", "--json").stdout)
    assert data["arms"] == [] and data["served"] == 0
    assert data["verdict"] == {
        "significant": False,
        "winner": None,
        "loser": None,
        "text": "no predictions in the window",
    }


def test_scan_and_index_reads_agree(ledger, project, fraud):
    """A window holding most of the log is read by a scan, a small one through the index; both
    ways give the same numbers."""
    v1, v2, v3 = fraud
    records = [record(f"old{i}", v1, latency=float(i), when=100 + i / 60) for i in range(300)]
    records += [
        record(f"new{i}", v1 if i % 2 else v2, arm="primary" if i % 2 else "canary-1", latency=i)
        for i in range(6)
    ]
    records += [record(f"new{i}", v3, mode="shadow", output=0, latency=1.5) for i in range(6)]
    records += [record("nolat", v1, when=0.5)]
    log_predictions(records, "production", ledger=ledger)
    give_feedback(
        project,
        [{"request_id": f"old{i}", "label": 1} for i in range(0, 300, 3)]
        + [{"request_id": f"new{i}", "label": i % 2, "was_correct": i < 3} for i in range(6)],
    )
    with ledger.db.read() as conn:
        small = log_window(conn, "production", at(2))
        large = log_window(conn, "production", at(1000))
        empty = log_window(conn, "production", at(-1))
        sqlite = conn.dialect.name == "sqlite"  # PostgreSQL's planner chooses for itself
        assert (small.scan, large.scan, empty.scan) == (False, sqlite, False)
        for window in (small, large):
            answers = []
            for scan in (False, True):
                window.scan = scan
                counts = arm_counts(conn, window)
                keys = sorted(((r["arm"], r["mode"], r["version_id"]) for r in counts), key=str)
                answers.append(
                    (
                        sorted((tuple(sorted(r.items())) for r in counts), key=str),
                        arm_latency_percentiles(conn, window, (0.5, 0.9), keys),
                        sorted(
                            (tuple(sorted(r.items())) for r in arm_feedback(conn, window)),
                            key=str,
                        ),
                    )
                )
            assert answers[0] == answers[1]
        assert arm_counts(conn, empty) == []
    arms = by_name(compare(ledger, "production", "2h", now=NOW))
    assert {a: arms[a].count for a in arms} == {"primary": 4, "canary-1": 3, "shadow fraud@3": 6}
    assert arms["primary"].latency.n == 3 and arms["primary"].latency.p50 == 3.0
    assert (arms["canary-1"].quality.successes, arms["canary-1"].quality.n) == (2, 3)
    # The shadow answered 0: right where the label is 0 (new0, new2, new4).
    assert (arms["shadow fraud@3"].quality.successes, arms["shadow fraud@3"].quality.n) == (3, 6)
    everything = by_name(compare(ledger, "production", "30d", now=NOW))
    assert everything["primary"].count == 304
    assert everything["primary"].quality.n == 100 + 3


def test_labels_compare_with_outputs_as_canonical_json(ledger, project, fraud):
    v1 = fraud[0]
    cases = [
        (2.0, 2, True),
        ([1.0, 2.5], [1, 2.5], True),
        (1e16, 10**16, True),
        ({"a": 1.0, "b": 0.05}, {"b": 0.05, "a": 1}, True),
        (0.05, 0.05, True),
        (-0.0, 0, True),
        ("v1.0", "v1", False),
        (3.0, 4, False),
        ({"label": 1, "score": 0.9}, 1, False),
    ]
    log_predictions(
        [record(f"r{i}", v1, output=out) for i, (out, _, _) in enumerate(cases)],
        "production",
        ledger=ledger,
    )
    give_feedback(
        project, [{"request_id": f"r{i}", "label": lab} for i, (_, lab, _) in enumerate(cases)]
    )
    quality = by_name(compare(ledger, "production", "24h", now=NOW))["primary"].quality
    assert (quality.successes, quality.n) == (sum(ok for *_, ok in cases), len(cases))
