"""CONTAIN's choice of target and its refusal, through the CLI on both backends: the card's
rollback_target wins over what was live before, and a target that fails rehearsal moves nothing."""

import json

from tests.conftest import jrun, write
from tests.people import key_file, people_via_cli, promote_via_cli


def _register(cli, project, n, monkeypatch):
    monkeypatch.setenv("MLEDGER_USER", "alice")
    art = write(project / f"m{n}.bin", f"weights {n}")
    out = jrun(cli, "model", "register", "churn", "-a", str(art), "--code-ref", f"x@{n}")
    monkeypatch.setenv("MLEDGER_USER", "carol")
    return out["id"]


def test_contain_takes_the_cards_target_and_refuses_one_that_fails(
    ledger_cli, project, monkeypatch
):
    cli = ledger_cli
    people_via_cli(cli, project, approvers=("bob",))
    v1, v2, v3 = (_register(cli, project, n, monkeypatch) for n in (1, 2, 3))
    cli("env", "create", "production")
    for ref in ("churn@1", "churn@2", "churn@3"):
        promote_via_cli(cli, project, ref, "production")
    bob = str(key_file(project, "bob"))
    opened = jrun(cli, "incident", "open", "production", "--reason", "complaints from support")
    assert (opened["incident"], opened["version_id"], opened["alert_event"]) == ("inc-1", v3, None)
    assert opened["detected_at"] == opened["at"]

    unsigned = cli("incident", "contain", "inc-1", "--approver", "bob", code=2)
    assert "a rollback takes your signing key" in unsigned.stderr
    assert not [e for e in jrun(cli, "audit", "log") if e["kind"] == "rehearsal"]
    # what was live before (churn@2) lost its bytes: rehearsal fails it and nothing moves
    sha = jrun(cli, "model", "show", "churn@2")["tuple"]["artifact"]["sha256"]
    (project / ".mledger" / "blobs" / "sha256" / sha[:2] / sha[2:]).unlink()
    refused = cli("incident", "contain", "inc-1", "--key", bob, code=1)
    assert "the rollback target fails rehearsal" in refused.stderr
    assert "nothing was moved" in refused.stderr
    assert jrun(cli, "env", "show", "production")["id"] == v3
    assert jrun(cli, "incident", "show", "inc-1")["status"] == "opened"

    # the card names churn@1 as the rollback target: containment goes there
    write(project / "card.json", json.dumps({"rollback_target": "churn@1"}))
    cli("model", "card", "churn@3", "--set", "card.json")
    done = cli("incident", "contain", "inc-1", "--key", bob)
    assert "inc-1 contained: production churn@3 → churn@1" in done.stdout
    assert jrun(cli, "env", "show", "production")["id"] == v1
    again = cli("incident", "contain", "inc-1", "--key", bob, code=2)
    assert "no longer serves churn@3" in again.stderr
    assert v2 not in json.dumps(jrun(cli, "incident", "show", "inc-1")["steps"])

    bad = cli("incident", "open", "production", "--from", "drift_alert:1", code=2)
    assert "event #1 is not a drift alert" in bad.stderr
    assert (
        "expected drift_alert:SEQ"
        in cli("incident", "open", "production", "--from", "alert:3", code=2).stderr
    )
    assert "needs --from" in cli("incident", "open", "production", code=2).stderr
