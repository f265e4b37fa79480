"""Promotion as a workflow of signed decisions, on SQLite and PostgreSQL, and what an attacker
with write access to the database can and cannot make verify."""

from __future__ import annotations

import pytest

from modelledger.core.errors import Conflict, InvalidInput, NotAllowed
from modelledger.identity import manage, signing
from modelledger.ledger.home import now
from modelledger.models.register import RegisterRequest, register
from modelledger.releases import environments as envs
from modelledger.releases import workflow
from modelledger.releases.env_status import show
from modelledger.releases.promote import promote
from modelledger.releases.requests import Approval, sign_approval
from tests.conftest import write
from tests.people import key_of, people


@pytest.fixture
def team(ledger, project):
    """carol (admin, requester), bob and dan (approvers in group risk), erin (approver, not in
    risk), wes (a writer); churn@1 registered by alice; production asking two risk approvers."""
    people(ledger, project, ["bob", "dan"], groups=["risk"])
    people(ledger, project, ["erin"])
    people(ledger, project, ["wes"], roles=["writer"])
    register(ledger, RegisterRequest(name="churn", artifact=write(project / "m1.bin", "w1")))
    policy = write(project / "p.yaml", "approvers: {count: 2, from: [group:risk]}\n")
    envs.set_policy(ledger, "production", policy, key_of(project, "carol"))
    return {name: key_of(project, name) for name in ("carol", "bob", "dan", "erin", "wes", "alice")}


def request(ledger, keys, who="carol", ref="churn@1", **kw):
    return promote(ledger, ref, "production", key=keys[who], **kw)


def decide(ledger, state, key, decision="approve", reason=None):
    return workflow.decide_request(ledger, state.request.id, key, decision, reason)


def test_two_risk_approvers_move_production(ledger, team):
    pending = request(ledger, team, reason="quarterly")
    assert pending.status == "pending" and pending.need == 2 and pending.from_ == ("group:risk",)
    assert show(ledger, "production")["id"] is None
    with pytest.raises(NotAllowed, match="erin is not among group:risk"):
        decide(ledger, pending, team["erin"])
    with pytest.raises(NotAllowed, match="wes has no approver role for production"):
        decide(ledger, pending, team["wes"])
    first = decide(ledger, pending, team["bob"])
    assert first.executed is None and first.state.approved_by == ("bob",)
    with pytest.raises(Conflict, match=r"bob approved request pr-.* already"):
        decide(ledger, pending, team["bob"])
    done = decide(ledger, pending, team["dan"])
    assert done.executed is not None and done.state.status == "promoted"
    live = show(ledger, "production")
    assert live["approved_by"] == ["bob", "dan"] and live["promoted_by"] == "carol"
    with pytest.raises(Conflict, match="is promoted"):
        decide(ledger, pending, team["erin"])


def test_self_approval_is_refused_for_requester_and_registrant(ledger, project, team):
    people(ledger, project, ["alice"], groups=["risk"])  # alice registered churn@1
    pending = request(ledger, team)
    with pytest.raises(NotAllowed, match="alice registered churn@1"):
        decide(ledger, pending, team["alice"])
    manage.save(ledger, team["carol"], "carol", join=["risk"])  # the requester, in risk now
    with pytest.raises(NotAllowed, match="carol requested this promotion"):
        decide(ledger, pending, team["carol"])


def test_only_writers_request_and_only_known_keys_sign(ledger, project, team):
    with pytest.raises(NotAllowed, match="bob has no writer role"):
        request(ledger, team, who="bob")
    with pytest.raises(NotAllowed, match="belongs to no enabled principal"):
        request(ledger, {"carol": key_of(project, "mallory")})
    pending = request(ledger, team, who="wes")
    assert pending.request.requester == "wes"
    with pytest.raises(NotAllowed, match="belongs to no enabled principal"):
        decide(ledger, pending, key_of(project, "mallory"))


def test_revoked_keys_and_disabled_people_no_longer_count(ledger, team):
    pending = request(ledger, team)
    decide(ledger, pending, team["bob"])
    manage.save(ledger, team["carol"], "bob", disabled=True)
    # bob's earlier approval stops counting too: approvals are judged when the move is made
    assert workflow.show(ledger, pending.request.id).approved_by == ()
    done = decide(ledger, pending, team["dan"])
    assert done.executed is None and done.state.approved_by == ("dan",)
    fp = signing.fingerprint(signing.public_key_text(team["dan"]))
    manage.save(ledger, team["carol"], "dan", revoke_keys=[fp[:8]])
    with pytest.raises(NotAllowed, match="belongs to no enabled principal"):
        decide(ledger, pending, team["dan"])


def test_rejection_expiry_and_a_moved_environment_close_requests(ledger, project, team):
    pending = request(ledger, team)
    with pytest.raises(InvalidInput, match="--reason"):
        decide(ledger, pending, team["bob"], "reject")
    decide(ledger, pending, team["bob"], "reject", "not on a Friday")
    assert workflow.show(ledger, pending.request.id).status == "rejected"
    with pytest.raises(Conflict, match="rejected"):
        decide(ledger, pending, team["dan"])

    stale = request(ledger, team, expires="1s")
    later = workflow.show(ledger, stale.request.id, at="2999-01-01T00:00:00.000000Z")
    assert later.status == "expired"

    a = request(ledger, team)
    register(ledger, RegisterRequest(name="churn", artifact=write(project / "m2.bin", "w2")))
    b = request(ledger, team, ref="churn@2")
    for key in (team["bob"], team["dan"]):
        decide(ledger, b, key)
    assert workflow.show(ledger, a.request.id).status == "superseded"
    with pytest.raises(Conflict, match="superseded"):
        decide(ledger, a, team["bob"])


def test_a_signature_for_one_request_never_counts_for_another(ledger, project, team):
    from modelledger.ledger import events

    register(ledger, RegisterRequest(name="churn", artifact=write(project / "m2.bin", "w2")))
    one, two = request(ledger, team), request(ledger, team, ref="churn@2")
    bob_on_one = decide(ledger, one, team["bob"]).approval
    # someone with write access to the database copies bob's approval onto the other request
    forged = Approval(two.request.id, "approve", None, "bob", bob_on_one.at, bob_on_one.signed)
    with ledger.db.write() as conn:
        events.append(
            conn, "promotion.approval", two.request.id, "bob", now(), {"approval": forged.to_json()}
        )
    assert workflow.show(ledger, two.request.id).approved_by == ()
    # nor does re-signing another request's statement help: the statement names the request
    resigned = sign_approval(team["bob"], one.request, forged)
    assert resigned.signed != bob_on_one.signed or resigned.request != one.request.id
    assert jrun_verify(ledger)["ok"]  # a refused approval does no harm: nothing moved on it


def jrun_verify(ledger):
    from modelledger.cli.id_recipes import RECIPES
    from modelledger.ledger import integrity
    from modelledger.releases.approvals_audit import ApprovalsCheck

    report = integrity.verify_ledger(ledger, RECIPES, checks=[ApprovalsCheck()])
    return {"ok": report.ok, "damage": [d.to_json() for d in report.damage]}


def test_audit_verify_finds_a_promotion_whose_approvals_do_not_verify(ledger, project, team):
    from modelledger.releases.workflow import Executed, RequestState, _execute

    register(ledger, RegisterRequest(name="churn", artifact=write(project / "m2.bin", "w2")))
    one, two = request(ledger, team), request(ledger, team, ref="churn@2")
    decide(ledger, one, team["bob"])
    copied = [a for a in workflow.show(ledger, one.request.id).approvals]
    assert jrun_verify(ledger)["ok"]
    # the attacker moves production on request two, carrying bob's and a made-up dan approval
    fake = Approval(
        two.request.id, "approve", None, "dan", now(), {"key": "ed25519:" + "0" * 64, "sig": "00"}
    )
    moved = [Approval(two.request.id, "approve", None, "bob", copied[0].at, copied[0].signed), fake]
    state = RequestState(
        two.request, tuple(moved), "pending", ("bob", "dan"), 2, ("group:risk",), two.event_seq
    )
    with ledger.db.write() as conn:
        assert isinstance(_execute(conn, state, now()), Executed)
    found = jrun_verify(ledger)
    assert not found["ok"]
    details = [d["detail"] for d in found["damage"] if d["kind"] == "approval"]
    assert any("bob's approval: its signature does not verify" in d for d in details), details
    assert any("dan's approval" in d for d in details) and any(
        "the policy needs 2" in d for d in details
    )


def test_audit_verify_finds_a_forged_identity_change_and_an_unsigned_promotion(
    ledger, project, team
):
    from modelledger.identity import store
    from modelledger.ledger import events
    from modelledger.releases import store as env_store
    from modelledger.releases.environment import PlannedMove

    # wes signs a grant of admin to himself and appends it with database access
    with ledger.db.write() as conn:
        d = store.directory(conn)
        body = {
            "name": "wes",
            "kind": "person",
            "grants": ["admin"],
            "groups": [],
            "disabled": False,
        }
        payload = {**body, "ledger": d.ledger, "prev": d.tip}
        from modelledger.identity.directory import statement_of

        payload["signed"] = signing.sign(team["wes"], statement_of("identity.principal", payload))
        events.append(conn, "identity.principal", "wes", "wes", now(), payload)
    assert not manage.directory(ledger).principals["wes"].can("admin")
    with pytest.raises(NotAllowed):
        manage.save(ledger, team["wes"], "erin", grant=["admin"])
    # and moves production with no request at all, as the old typed-name promotion did
    vid = show_version(ledger)
    with ledger.db.write() as conn:
        at = now()
        env_store.record_move(
            conn,
            PlannedMove(
                "production",
                vid,
                None,
                "promote",
                at,
                "wes",
                ("bob",),
                None,
                current_policy(ledger),
                events.next_seq(conn),
            ),
        )
        events.append(
            conn,
            "promotion",
            "production",
            "wes",
            at,
            {
                "env": "production",
                "version": vid,
                "previous": None,
                "approvers": ["bob"],
                "policy_sha256": current_policy(ledger),
            },
        )
    kinds = {(d["kind"], d["detail"]) for d in jrun_verify(ledger)["damage"]}
    assert ("identity", "not signed by an active key of an admin") in kinds
    assert any(k == "approval" and "no signed request" in why for k, why in kinds), kinds


def show_version(ledger):
    from modelledger.models.resolve import resolve_version

    with ledger.db.read() as conn:
        return resolve_version(conn, "churn@1")


def current_policy(ledger):
    return envs.get_policy(ledger, "production")["policy_sha256"]


def test_policy_changes_are_signed_by_an_admin(ledger, project, team):
    lean = write(project / "lean.yaml", "approvers: 1\n")
    with pytest.raises(InvalidInput, match="takes your signing key"):
        envs.set_policy(ledger, "production", lean)
    with pytest.raises(NotAllowed, match="needs the admin role for production, which wes"):
        envs.set_policy(ledger, "production", lean, team["wes"])
    done = envs.set_policy(ledger, "production", lean, team["carol"])
    assert done["changed"] and jrun_verify(ledger)["ok"]
    # written past the use case, unsigned, by someone with database access
    from modelledger.ledger import events

    with ledger.db.write() as conn:
        payload = {"env": "production", "policy_sha256": done["policy_sha256"], "policy": {}}
        events.append(conn, "env.policy", "production", "wes", now(), payload)
    damage = [d["detail"] for d in jrun_verify(ledger)["damage"] if d["kind"] == "approval"]
    assert "setting a gate policy after identities were set up, unsigned" in damage


def test_a_rollback_is_signed_by_an_approver_of_the_environment(ledger, project, team):
    from modelledger.releases.rollback import rollback

    lean = write(project / "lean.yaml", "approvers: 1\n")
    envs.set_policy(ledger, "production", lean, team["carol"])
    register(ledger, RegisterRequest(name="churn", artifact=write(project / "m2.bin", "w2")))
    for ref in ("churn@1", "churn@2"):
        decide(ledger, request(ledger, team, ref=ref), team["bob"])
    with pytest.raises(InvalidInput, match="not approved by typed --approver names"):
        rollback(ledger, "production", ["bob"], "pager", key=team["bob"])
    with pytest.raises(InvalidInput, match="a rollback takes your signing key"):
        rollback(ledger, "production", [], "pager")
    with pytest.raises(NotAllowed, match="needs the approver role for production, which wes"):
        rollback(ledger, "production", [], "pager", key=team["wes"])
    back = rollback(ledger, "production", [], "pager at 3am", key=team["erin"])
    assert back.move.approvers == ("erin",) and back.move.requester == "erin"
    assert jrun_verify(ledger)["ok"]
