"""More of the CLI against a real `mledger server` (SQLite and PostgreSQL): reads that answer as
locally, evals and the gate, a rollback signed by the approver, rehearsal, diff and audit, labels,
cards, lineage and impact. (Apart from test_remote_cli.py so that the two run side by side.)"""

from __future__ import annotations

import json

from tests.conftest import alter_event, jrun, write
from tests.server.test_remote_cli import same


def test_reads_through_the_server_answer_as_locally(remote, cli, ledger):
    """model list and search, env list, history and at, and audit log: the same JSON as the
    local command on the server's ledger; an event altered in the server's database is refused."""
    from modelledger.ledger.audit import EventQuery, log
    from modelledger.ledger.home import now
    from modelledger.models.reads import list_versions
    from modelledger.models.resolve import resolve_subject
    from modelledger.releases import environments as envs
    from modelledger.search.conditions import Search, parse_all
    from modelledger.search.find import search

    as_, client, _ = remote
    as_("wes")
    for lr in (0.1, 0.2):
        write(client / "m.bin", f"w{lr}")
        jrun(cli, "model", "register", "churn", "--artifact", "m.bin", "--param", f"lr={lr}")
    rid = jrun(cli, "promote", "churn@2", "--to", "production")["request"]["id"]
    as_("alice")
    cli("approve", rid)
    as_("rita")  # a reader reads all of it

    same(jrun(cli, "model", "list"), [v.to_json() for v in list_versions(ledger)])
    found = jrun(cli, "model", "search", "churn", "--param", "lr>=0.15")
    asked = Search(name="churn", params=parse_all(["lr>=0.15"], "--param"))
    same(found, [f.to_json() for f in search(ledger, asked).found])
    assert [f["label"] for f in found] == ["churn@2"]
    assert "churn@2" in cli("model", "search", "churn", "--param", "lr>=0.15").stdout
    same(jrun(cli, "env", "list"), envs.list_envs(ledger))
    same(jrun(cli, "env", "history", "production"), envs.history(ledger, "production"))
    at = now()
    same(jrun(cli, "env", "at", "production", at), envs.at(ledger, "production", at))
    events = jrun(cli, "audit", "log", "--kind", "model.registered")
    query = EventQuery(None, "model.registered", None, None, None, 50)
    same(events, [e.to_json() for e in log(ledger, query, resolve=resolve_subject).events])
    assert "model.registered" in cli("audit", "log").stdout

    alter_event(ledger, events[0]["seq"], "actor", "mallory")
    altered = cli("audit", "log", "--kind", "model.registered", code=1)
    assert f"event #{events[0]['seq']} does not hash" in altered.stderr


def test_evals_and_the_gate_through_the_server(remote, cli, ledger, project):
    """An eval set's files and a result's report go as blobs; the result and `gate check` read
    as locally; a different score on the same set is refused as it is locally."""
    from modelledger.evals.evaluate import compare
    from modelledger.releases import environments as envs
    from modelledger.releases.gatekeeper import check, decision_json
    from tests.people import key_of

    as_, client, _ = remote
    as_("wes")
    write(client / "data" / "holdout" / "rows.csv", "x,y\n1,0\n")
    made = jrun(cli, "eval", "set", "create", "holdout", str(client / "data" / "holdout"))
    assert made["eval_set_created"] and made["created_by"] == "wes"
    assert [s["id"] for s in jrun(cli, "eval", "set", "list")] == [made["id"]]
    policy = write(
        project / "gated.yaml",
        f"approvers: 1\neval_set: {made['id']}\nmetrics:\n  - {{name: auc, min: 0.75}}\n",
    )
    envs.set_policy(ledger, "production", policy, key_of(project, "carol"))
    for i, auc in ((1, 0.7), (2, 0.8)):
        write(client / "m.bin", f"w{i}")
        jrun(cli, "model", "register", "churn", "--artifact", "m.bin")
        report = write(client / "reports" / f"{i}.json", f'{{"auc": {auc}}}')
        done = jrun(
            cli, "eval", "record", f"churn@{i}", "-e", made["id"], "-m", f"auc={auc}",
            "--report", str(report),
        )  # fmt: skip
        assert done["created"] and ledger.blobs.has(done["report"].removeprefix("sha256:"))
    refused = cli("eval", "record", "churn@2", "-e", made["id"], "-m", "auc=0.9", code=2)
    assert "immutable" in refused.stderr
    assert jrun(cli, "eval", "compare", "churn@1", "churn@2") == json.loads(
        json.dumps(compare(ledger, "churn@1", "churn@2"))
    )
    as_("rita")
    failed = jrun(cli, "gate", "check", "churn@1", "--env", "production", code=1)
    assert failed == json.loads(json.dumps(decision_json(check(ledger, "churn@1", "production"))))
    said = cli("gate", "check", "churn@2", "--env", "production").stdout
    assert "churn@2 passes the production gate; promotion then needs 1 signed approval" in said


def test_a_rollback_through_the_server_is_signed_by_the_approver(remote, cli, ledger, project):
    """The server checks the target and drafts the statement; the approver's key signs it here;
    a writer is refused; a statement altered, or signed before production last moved, is refused;
    audit verify checks the signature."""
    import os

    import httpx

    from modelledger.identity.signing import public_key_text, sign
    from tests.people import key_of
    from tests.releases.test_approvals import jrun_verify

    as_, client, secrets = remote

    def release(i):
        as_("wes")
        rid = jrun(cli, "promote", f"churn@{i}", "--to", "production")["request"]["id"]
        as_("alice")
        cli("approve", rid)

    for i in (1, 2):
        as_("wes")
        write(client / "m.bin", f"w{i}")
        jrun(cli, "model", "register", "churn", "--artifact", "m.bin")
        release(i)
    url = f"{os.environ['MLEDGER_URL']}/api/v1/environments/production/rollback"
    bob = key_of(project, "bob")
    body = {"reason": "chargebacks up", "key": public_key_text(bob)}
    headers = {"Authorization": f"Bearer {secrets['bob']}"}
    drafted = httpx.post(url, json=body, headers=headers, timeout=30)
    assert drafted.status_code == 409 and drafted.json()["statement"]["version"]
    statement = drafted.json()["statement"]
    signed = {"key": body["key"], "sig": sign(bob, statement)["sig"]}
    altered = httpx.post(
        url, json={**body, "reason": "other", "statement": statement, "signed": signed},
        headers=headers, timeout=30,
    )  # fmt: skip
    assert altered.status_code == 409 and "statement" in altered.json()  # sign this one instead
    assert jrun(cli, "env", "show", "production")["label"] == "churn@2"  # nothing moved

    as_("wes")  # a writer, no approver
    assert "approver" in cli("rollback", "production", "--reason", "bad", code=3).stderr
    as_("bob")
    done = jrun(cli, "rollback", "production", "--reason", "chargebacks up")
    assert done["rolled_back"] and done["label"] == "churn@1" and done["approvers"] == ["bob"]
    assert jrun(cli, "env", "show", "production")["label"] == "churn@1"
    release(2)  # production is as it was when the first statement was signed
    replayed = httpx.post(
        url, json={**body, "statement": statement, "signed": signed}, headers=headers, timeout=30
    )
    assert replayed.status_code == 409 and "last moved" in replayed.json()["error"]
    assert jrun(cli, "env", "show", "production")["label"] == "churn@2"
    assert jrun_verify(ledger)["ok"]


def test_rehearse_data_diff_and_audit_prediction_through_the_server(remote, cli, ledger):
    from modelledger.data.diff import diff
    from modelledger.ledger.home import now
    from modelledger.predictions.audit import audit_prediction
    from modelledger.predictions.ingest import log_predictions

    as_, client, _ = remote
    as_("wes")
    write(client / "data" / "a" / "t.csv", "k,c\n1,x\n2,y\n")
    write(client / "data" / "b" / "t.csv", "k,c\n1,x\n3,z\n")
    a = jrun(cli, "data", "snapshot", str(client / "data" / "a"), "--name", "t")["id"]
    b = jrun(cli, "data", "snapshot", str(client / "data" / "b"), "--name", "t")["id"]
    found = jrun(cli, "data", "diff", a, b, "--key", "k")
    assert found == json.loads(json.dumps(diff(ledger, a, b, key=["k"])))
    assert "t.csv" in cli("data", "diff", a, b).stdout
    for i in (1, 2):
        write(client / "m.bin", f"w{i}")
        jrun(cli, "model", "register", "churn", "--artifact", "m.bin")
        rid = jrun(cli, "promote", f"churn@{i}", "--to", "production")["request"]["id"]
        as_("alice")
        cli("approve", rid)
        as_("wes")
    done = jrun(cli, "rehearse", "production")
    assert done["passed"] and done["target"]["label"] == "churn@1"
    assert "rehearsal passed" in cli("rehearse", "production").stdout
    live = jrun(cli, "env", "show", "production")["id"]
    record = {"request_id": "r-1", "version_id": live, "output": 1, "served_at": now()}
    log_predictions(ledger, [{**record, "features": {"x": 1}}], "production")
    as_("rita")
    answer = jrun(cli, "audit", "prediction", "r-1")
    assert answer == json.loads(json.dumps(audit_prediction(ledger, "r-1")))
    assert "churn@2" in cli("audit", "prediction", "r-1").stdout


def test_labels_cards_lineage_and_impact_through_the_server(remote, cli, ledger):
    """model tag/describe/lineage/verify/card, data lineage/card/leakage/affected, route show
    and env create: the same JSON as locally, each write as the token's principal."""
    from modelledger.data.leakage import leakage
    from modelledger.impact.affected import affected
    from modelledger.impact.lineage import data_lineage
    from modelledger.models.reads import card_json, lineage
    from modelledger.serving.routing import show_json

    as_, client, _ = remote
    as_("wes")
    write(client / "data" / "train" / "t.csv", "id,x\n1,a\n2,b\n")
    write(client / "data" / "eval" / "t.csv", "id,x\n2,b\n3,c\n")
    train = jrun(cli, "data", "snapshot", str(client / "data" / "train"), "--name", "train")["id"]
    held = jrun(cli, "data", "snapshot", str(client / "data" / "eval"), "--name", "eval")["id"]
    write(client / "m.bin", "w1")
    jrun(cli, "model", "register", "churn", "--artifact", "m.bin", "--data", train)
    tagged = jrun(cli, "model", "tag", "churn@1", "stage=candidate")
    assert tagged["tags"] == {"stage": "candidate"} and tagged["changes"][0]["new"] == "candidate"
    assert "description set" in cli("model", "describe", "churn@1", "first cut").stdout
    events = jrun(cli, "audit", "log", "--kind", "model.tag")
    assert events[0]["actor"] == "wes"
    same(jrun(cli, "model", "lineage", "churn@1"), lineage(ledger, "churn@1"))
    assert jrun(cli, "model", "verify", "churn@1")["ok"]
    write(client / "data" / "card.yaml", "intended_use: churn scoring\n")
    cli("model", "card", "churn@1", "--set", str(client / "data" / "card.yaml"))
    same(jrun(cli, "model", "card", "churn@1"), card_json(ledger, "churn@1"))
    same(jrun(cli, "data", "lineage", train), data_lineage(ledger, train))
    write(client / "data" / "dcard.yaml", "consent_basis: contract\n")
    assert (
        "card revision 1 stored"
        in cli("data", "card", train, "--set", str(client / "data" / "dcard.yaml")).stdout
    )
    assert jrun(cli, "data", "card", train)["revision"] == 1
    found = jrun(cli, "data", "leakage", "--eval", held, "--train", train, code=1)
    same(found, leakage(ledger, held, [train]))
    same(
        jrun(cli, "data", "affected", "--record", "id=2"),
        affected(ledger, record="id=2", within=[]),
    )
    refused = cli("env", "create", "staging", code=3)  # a writer, not an admin
    assert "admin" in refused.stderr
    as_("carol")
    assert jrun(cli, "env", "create", "staging") == {"env": "staging", "created": True}
    as_("rita")
    same(jrun(cli, "route", "show", "production"), show_json(ledger, "production"))
