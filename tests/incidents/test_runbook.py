"""The incident runbook through the CLI, on SQLite and PostgreSQL: a bad retrain goes live, a drift
alert detects it, and `mledger incident` walks open, contain, assess, diagnose, recover and prevent,
each step an event of the hash chain, then shows the timeline."""

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import jrun, write
from tests.drift.test_check import POLICY, traffic, training_csv
from tests.people import key_file, people_via_cli, promote_via_cli

CARD = {"label": "late", "inputs": {"amount": "float", "region": "str", "route": "str"}}
EVAL = "amount,region,route,late\n" + "".join(f"{40 + i},north,new,{i % 2}\n" for i in range(20))


def _register(cli, project, n, data, monkeypatch):
    monkeypatch.setenv("MLEDGER_USER", "alice")  # the registrant is nobody who approves
    art = write(project / f"m{n}.bin", f"weights {n}")
    out = jrun(
        cli, "model", "register", "delay", "-a", str(art), "--code-ref", f"x@{n}",
        "--data", f"{data}:train", "--lock", str(project / "requirements.lock"),
        "--card", str(project / "card.json"),
    )  # fmt: skip
    monkeypatch.setenv("MLEDGER_USER", "carol")
    return out["id"]


@pytest.fixture
def bad_retrain_live(ledger_cli, project, monkeypatch):
    """delay@1 live in production, then delay@2 (trained on data that lost the region `west`),
    whose served traffic drifts and fails on new routes; delay@3, the fixed retrain, scored."""
    cli = ledger_cli
    people_via_cli(cli, project, approvers=("bob",))
    rng = random.Random(7)
    good = training_csv(rng)
    bad = "".join(line + "\n" for line in good.splitlines() if ",west," not in line)
    write(project / "train1" / "part.csv", good)
    write(project / "train2" / "part.csv", bad)
    ds1 = jrun(cli, "data", "snapshot", str(project / "train1"), "--name", "trips")["id"]
    ds2 = jrun(cli, "data", "snapshot", str(project / "train2"), "--name", "trips")["id"]
    write(project / "requirements.lock", "numpy==2.0.0\n")
    write(project / "card.json", json.dumps(CARD))
    ids = [_register(cli, project, n, ds, monkeypatch) for n, ds in ((1, ds1), (2, ds2), (3, ds1))]
    es = jrun(cli, "eval", "set", "create", "core", str(write(project / "eval.csv", EVAL)))["id"]
    for ref, acc in (("delay@1", "0.90"), ("delay@2", "0.91"), ("delay@3", "0.92")):
        cli("eval", "record", ref, "-e", es, "-m", f"accuracy={acc}")
    write(
        project / "policy.yaml",
        f"eval_set: {es}\nmetrics:\n  - {{name: accuracy, min: 0.8, max_drop_vs_live: 0.05}}\n",
    )
    cli("env", "policy", "production", "policy.yaml", "--key", str(key_file(project, "carol")))
    promote_via_cli(cli, project, "delay@1", "production")
    promote_via_cli(cli, project, "delay@2", "production")

    start = datetime.now(UTC) - timedelta(hours=2)
    records, feedback = traffic(ids[1], 600, shifted=True, start=start, rng=random.Random(1))
    write(project / "served.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    write(project / "fb.jsonl", "".join(json.dumps(f) + "\n" for f in feedback))
    cli("predictions", "import", "served.jsonl", "--env", "production")
    cli("feedback", "import", "fb.jsonl")
    write(project / "drift.yaml", json.dumps(POLICY))
    return cli, ids, es


def test_the_runbook_end_to_end(bad_retrain_live, project):
    cli, (v1, v2, v3), es = bad_retrain_live
    bob, carol = str(key_file(project, "bob")), str(key_file(project, "carol"))
    window = ("--window", "24h", "--policy", "drift.yaml")

    # 1 DETECT: the drift check alerts and the incident is opened from one of its alerts
    report = jrun(cli, "drift", "check", "production", *window, code=1)
    alert = report["events"][0]
    opened = jrun(cli, "incident", "open", "production", "--from", f"drift_alert:{alert}")
    assert opened["incident"] == "inc-1" and opened["version_id"] == v2
    assert opened["label"] == "delay@2" and opened["alert_event"] == alert
    again = cli("incident", "open", "production", "--reason", "again", code=2)
    assert "inc-1 is already open" in again.stderr
    # the runbook's order: nothing is assessed before it is contained
    early = cli("incident", "assess", "inc-1", code=2)
    assert early.stderr.startswith("error: inc-1 is not contained yet")

    # 2 CONTAIN: rehearsal, then rollback to what was live before, in one command
    contained = jrun(cli, "incident", "contain", "inc-1", "--key", bob)
    assert (contained["from"], contained["to"], contained["to_label"]) == (v2, v1, "delay@1")
    assert contained["rehearsal"] < contained["rollback"] < contained["event"]
    assert jrun(cli, "env", "show", "production")["id"] == v1

    # 3 ASSESS: where the bad version's failures concentrate
    assessed = jrun(cli, "incident", "assess", "1", *window)
    assert assessed["failures"] > 0 and assessed["judged"] == 600
    wheres = [p["where"] for p in assessed["places"]]
    assert wheres[0] in ("slice new_routes", "route = new"), wheres

    # 4 DIAGNOSE: a cause is recorded with its evidence, or refused without it
    scope = cli("incident", "diagnose", "inc-1", "--cause", "scope", code=1)
    assert "names no out-of-scope uses" in scope.stderr
    data = jrun(cli, "incident", "diagnose", "inc-1", "--cause", "data")
    (diff,) = data["evidence"]["diffs"]
    assert diff["role"] == "train" and not diff["identical"] and diff["files"]["modified"] == 1
    forgot = cli("incident", "diagnose", "inc-1", "--cause", "forgetting", code=1)
    assert "finds no regression of the version against what is live (delay@1)" in forgot.stderr
    drift = jrun(cli, "incident", "diagnose", "inc-1", "--cause", "drift", *window)
    drifting = {(s["kind"], s["name"]) for s in drift["evidence"]["signals"]}
    assert ("input", "amount") in drifting and ("slice", "new_routes") in drifting

    # 5 RECOVER: the fixed retrain passes the full gate, shadows, then takes a canary share
    not_yet = cli("incident", "recover", "inc-1", "delay@3", "--canary", "10", "--key", bob, code=2)
    assert "has not shadowed" in not_yet.stderr
    shadow = jrun(cli, "incident", "recover", "inc-1", "delay@3", "--key", bob)
    assert shadow["stage"] == "shadow" and shadow["gate"]["passed"]
    assert [s["id"] for s in jrun(cli, "route", "show", "production")["shadows"]] == [v3]
    canary = jrun(cli, "incident", "recover", "inc-1", "delay@3", "--canary", "10", "--key", bob)
    arms = {a["id"]: a["percent"] for a in jrun(cli, "route", "show", "production")["arms"]}
    assert canary["stage"] == "canary" and arms == {v1: 90.0, v3: 10.0}

    # 6 PREVENT: the cluster becomes a slice of a new eval set version that the gate requires
    sets = len(jrun(cli, "eval", "set", "list"))
    not_admin = cli("incident", "prevent", "inc-1", "--key", bob, code=3)
    assert "needs the admin role" in not_admin.stderr
    assert len(jrun(cli, "eval", "set", "list")) == sets  # nothing was written
    prevented = jrun(cli, "incident", "prevent", "inc-1", "--key", carol)
    assert prevented["slice"] == "inc-1" and prevented["where"] == wheres[0]
    assert prevented["metric"] == "accuracy" and prevented["min"] == 0.8
    new_set = prevented["eval_set"]["to"]
    assert prevented["eval_set"]["from"] == es and new_set != es
    policy = jrun(cli, "env", "policy", "production")["policy"]
    assert policy["eval_set"] == new_set and policy["protected_slices"]["names"] == ["inc-1"]
    card = jrun(cli, "model", "card", "delay@2")["card"]
    assert card["known_limitations"] == [prevented["limitation"]]
    assert prevented["where"] in prevented["limitation"]
    # the gate now holds candidates to the slice, on the new eval set
    cli(
        "eval", "record", "delay@1", "-e", new_set, "-m", "accuracy=0.9", "-s", "inc-1:accuracy=0.9"
    )
    cli(
        "eval",
        "record",
        "delay@3",
        "-e",
        new_set,
        "-m",
        "accuracy=0.92",
        "-s",
        "inc-1:accuracy=0.5",
    )
    gate = jrun(cli, "gate", "check", "delay@3", "--env", "production", code=1)
    failed = {c["name"] for c in gate["criteria"] if not c["passed"]}
    assert failed == {"slice inc-1 accuracy ≥ floor", "slice inc-1 accuracy vs live"}
    closed = cli("incident", "diagnose", "inc-1", "--cause", "drift", code=2)
    assert "inc-1 is closed" in closed.stderr

    # the timeline, from detection to prevention, and the list
    shown = jrun(cli, "incident", "show", "inc-1")
    steps = [row["step"] for row in shown["timeline"]]
    assert steps == [
        "detected", "opened", "contained", "assessed", "diagnosed", "diagnosed",
        "recovered", "recovered", "prevented",
    ]  # fmt: skip
    assert shown["status"] == "prevented" and shown["closed"]
    assert all(row["since_previous_s"] >= 0 for row in shown["timeline"][1:])
    totals = [row["since_detection_s"] for row in shown["timeline"]]
    assert totals == sorted(totals) and shown["elapsed_s"] == totals[-1]
    human = cli("incident", "show", "inc-1").stdout
    assert "prevented" in human and "rolled back delay@2" in human

    second = jrun(cli, "incident", "open", "production", "--reason", "latency spike")
    assert second["incident"] == "inc-2" and second["version_id"] == v1
    listed = jrun(cli, "incident", "list", "--env", "production")
    assert [(i["incident"], i["status"]) for i in listed] == [
        ("inc-1", "prevented"),
        ("inc-2", "opened"),
    ]
    assert jrun(cli, "incident", "list", "--env", "staging") == []

    # every step is an event of the chain, and the chain verifies
    kinds = [e["kind"] for e in jrun(cli, "audit", "log", "--limit", "200")]
    for step in ("opened", "contained", "assessed", "diagnosed", "recovered", "prevented"):
        assert f"incident.{step}" in kinds
    cli("audit", "verify")
    missing = cli("incident", "show", "inc-9", code=2)
    assert missing.stderr == "error: no incident inc-9: `mledger incident list` shows them\n"
