"""`mledger predictions import`, `mledger feedback import` and `mledger audit prediction` as a
user types them, on both backends."""

import json

from tests.conftest import jrun, write
from tests.people import promote_via_cli


def _live(cli, project, monkeypatch):
    """fraud@1 (trained on a carded snapshot) promoted to production by alice, approved by bob;
    fraud@2 registered beside it."""
    monkeypatch.setenv("MLEDGER_USER", "alice")
    write(project / "card.yaml", "sources:\n  - {name: payments-2024, owner: risk-team}\n")
    train = write(project / "data" / "train.csv", "a,b\n1,2\n")
    snap = jrun(cli, "data", "snapshot", str(train), "--name", "train", "--card", "card.yaml")
    ids = []
    for n in (1, 2):
        art = write(project / f"m{n}.bin", f"weights {n}")
        out = jrun(
            cli,
            "model",
            "register",
            "fraud",
            "-a",
            str(art),
            "--code-ref",
            f"git+https://example.com/fraud@{n}",
            "-p",
            f"depth={n}",
            "--data",
            f"{snap['id']}:train",
        )
        ids.append(out["id"])
    cli("env", "create", "production")
    promote_via_cli(cli, project, ids[0], "production", "--reason", "weekly", requester="alice")
    return ids, snap["id"]


def _jsonl(project, name, records):
    return write(project / name, "".join(json.dumps(r) + "\n" for r in records))


def test_import_audit_and_feedback(ledger_cli, project, monkeypatch):
    cli = ledger_cli
    (v1, v2), snap = _live(cli, project, monkeypatch)
    features = {"amount": 12.5, "country": "de"}
    path = _jsonl(
        project,
        "preds.jsonl",
        [
            {
                "request_id": "req-1",
                "version_id": v1,
                "output": {"label": 1},
                "features": features,
                "confidence": 0.9,
                "latency_ms": 3.1,
                "served_at": "2099-01-01T10:00:00Z",
            },
            {
                "request_id": "req-1",
                "version_id": v2,
                "mode": "shadow",
                "output": {"label": 0},
                "features": features,
                "served_at": "2099-01-01T10:00:00Z",
            },
            {"version_id": v2, "arm": "canary-1", "output": {"label": 1}, "input": {"q": 1}},
        ],
    )
    report = jrun(cli, "predictions", "import", str(path), "--env", "production")
    assert (report["count"], report["served"], report["shadow"]) == (3, 2, 1)
    assert len(report["segments"]) == 1

    found = jrun(cli, "audit", "prediction", "req-1")
    assert found["served_at"] == "2099-01-01T10:00:00.000000Z"
    assert (found["role"], found["version"]["id"], found["output"]) == ("live", v1, {"label": 1})
    assert found["version"]["data"][0]["id"] == snap
    assert found["version"]["data"][0]["sources"][0]["name"] == "payments-2024"
    assert found["promotion"]["approvers"] == ["bob"]
    assert found["promotion"]["requester"] == "alice"
    assert [a["role"] for a in found["answers"]] == ["live", "shadow"]

    human = cli("audit", "prediction", "req-1").stdout
    for expected in (
        "req-1",
        "LIVE",
        "fraud@1",
        "payments-2024",
        "approved by bob",
        "weekly",
        "fraud@2",
        "shadow",
    ):
        assert expected in human, (expected, human)

    feedback = _jsonl(
        project,
        "feedback.jsonl",
        [
            {"request_id": "req-1", "label": 1, "was_correct": True},
            {"request_id": "nobody", "label": 0},
        ],
    )
    res = cli("feedback", "import", str(feedback), "--json")
    assert json.loads(res.stdout)["recorded"] == 1
    assert "1 line(s) name a request id the log does not hold" in res.stderr
    assert "line 2 (nobody)" in res.stderr
    # again: already recorded, so something is there — not "nothing happened"
    assert "already recorded" in cli("feedback", "import", str(feedback)).stdout
    # a file naming only unknown requests recorded nothing: exit 3, not success
    strangers = _jsonl(project, "strangers.jsonl", [{"request_id": "nobody", "label": 0}])
    res = cli("feedback", "import", str(strangers), code=3)
    assert "recorded feedback for 0 request(s)" in res.stdout
    assert jrun(cli, "audit", "prediction", "req-1")["feedback"][0]["was_correct"] is True
    kinds = [e["kind"] for e in jrun(cli, "audit", "log", "--kind", "predictions.imported")]
    assert kinds == ["predictions.imported"]
    assert jrun(cli, "audit", "verify")["ok"]


def test_bad_input_is_one_line_exit_2_and_writes_nothing(ledger_cli, project, monkeypatch):
    cli = ledger_cli
    (v1, _), _ = _live(cli, project, monkeypatch)
    good = json.dumps({"version_id": v1, "output": 1, "input": 1})
    path = write(project / "bad.jsonl", f'{good}\n{good}\n{{"version_id": \n')
    res = cli("predictions", "import", str(path), "--env", "production", code=2)
    assert res.stderr.startswith("error: bad.jsonl line 3: malformed JSON")
    assert len(res.stderr.strip().splitlines()) == 1
    assert jrun(cli, "audit", "log", "--kind", "predictions.imported") == []

    res = cli("predictions", "import", "missing.jsonl", "--env", "production", code=2)
    assert "missing.jsonl: no such file" in res.stderr
    res = cli("predictions", "import", str(path), "--env", "nowhere", code=2)
    assert "no environment named 'nowhere'" in res.stderr
    res = cli("audit", "prediction", "req-404", code=2)
    assert "no prediction with request id 'req-404'" in res.stderr

    feedback = write(project / "fb.jsonl", '{"request_id": "x", "label": 1}\nnot json\n')
    res = cli("feedback", "import", str(feedback), code=2)
    assert res.stderr.startswith("error: fb.jsonl line 2: malformed JSON")


def test_import_takes_the_refs_every_command_takes(ledger_cli, project, monkeypatch):
    cli = ledger_cli
    (v1, v2), _ = _live(cli, project, monkeypatch)
    rows = [
        {"request_id": "a", "version_id": "fraud@1", "output": 1, "input": {"x": 1}},
        {"request_id": "b", "version_id": v2[:10], "output": 0, "input": {"x": 2}},
    ]
    cli("predictions", "import", str(_jsonl(project, "refs.jsonl", rows)), "--env", "production")
    assert jrun(cli, "audit", "prediction", "a")["version"]["id"] == v1
    assert jrun(cli, "audit", "prediction", "b")["version"]["id"] == v2
    # what is live now is not what answered then: refused, line named, nothing logged
    floating = _jsonl(
        project,
        "f.jsonl",
        [{"request_id": "c", "version_id": "fraud@production", "output": 1, "input": {}}],
    )
    err = cli("predictions", "import", str(floating), "--env", "production", code=2).stderr
    assert "f.jsonl line 1" in err and "floats" in err
    missing = _jsonl(
        project, "m.jsonl", [{"request_id": "d", "version_id": "fraud@9", "output": 1, "input": {}}]
    )
    err = cli("predictions", "import", str(missing), "--env", "production", code=2).stderr
    assert "m.jsonl line 1" in err and "fraud@9" in err
    assert cli("audit", "prediction", "c", code=2) and cli("audit", "prediction", "d", code=2)
