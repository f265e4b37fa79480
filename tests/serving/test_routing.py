"""Routing an environment's traffic: canary shares, sticky assignment, shadows, gating."""

import pytest

from modelledger.core.errors import CheckFailed, InvalidInput, NotAllowed, NotFound
from modelledger.evals import evaluate
from modelledger.ledger.audit import EventQuery, log
from modelledger.models.register import RegisterRequest, register
from modelledger.releases import environments as envs
from modelledger.releases.rollback import rollback
from modelledger.serving import routing
from tests.conftest import write
from tests.people import home_project, key_for, key_of, people, promote_approved


def set_route(ledger, env, arms, approvers, *args, **kw):
    """``routing.set_route`` signed by the one person ``approvers`` names (made an approver if
    the ledger does not know them): the ledger has identities once something is promoted."""
    [name] = approvers
    people(ledger, home_project(ledger), approvers=(name,))
    return routing.set_route(ledger, env, arms, [], *args, key=key_for(ledger, name), **kw)


def version(ledger, project, n):
    art = write(project / f"m{n}.bin", f"weights {n}")
    return register(
        ledger, RegisterRequest(name="fraud", artifact=art, code_ref=f"r@{n}", params={"n": n})
    ).version


@pytest.fixture
def live(ledger, project):
    eval_set, _ = evaluate.create_eval_set(ledger, "core", [write(project / "e.csv", "a,b\n1,2\n")])
    es = eval_set.snapshot.id
    envs.set_policy(
        ledger,
        "production",
        write(project / "p.yaml", f"eval_set: {es}\nmetrics: [{{name: auc, min: 0.8}}]\n"),
    )
    vs = [version(ledger, project, n) for n in (1, 2, 3)]
    for v, auc in zip(vs, (0.9, 0.91, 0.7), strict=True):
        evaluate.record(ledger, v.id, es, {"auc": auc}, {})
    promote_approved(ledger, vs[0].id, "production")
    return vs


def test_canary_shares_are_sticky_and_raising_only_adds_users(ledger, live):
    _v1, _v2, _v3 = live
    before = routing.show(ledger, "production")
    assert before["revision"] is None and [a["percent"] for a in before["arms"]] == [100]
    route = set_route(
        ledger, "production", ["fraud@1=90", "fraud@2=10"], ["bob"], sticky_key="user_id"
    )
    assert [(a["arm"], a["label"], a["percent"]) for a in route["arms"]] == [
        ("primary", "fraud@1", 90),
        ("canary-1", "fraud@2", 10),
    ]
    users = [f"user-{i}" for i in range(1000)]
    first = {u: routing.assign(ledger, "production", u)["arm"] for u in users}
    assert 0.07 < sum(a == "canary-1" for a in first.values()) / len(users) < 0.13
    assert first == {u: routing.assign(ledger, "production", u)["arm"] for u in users}  # sticky
    set_route(ledger, "production", ["fraud@1=75", "fraud@2=25"], ["bob"], sticky_key="user_id")
    after = {u: routing.assign(ledger, "production", u)["arm"] for u in users}
    assert all(after[u] == "canary-1" for u in users if first[u] == "canary-1")
    assert 0.21 < sum(a == "canary-1" for a in after.values()) / len(users) < 0.29
    assert [e.kind for e in log(ledger, EventQuery(kind="route.set")).events] == [
        "route.set",
        "route.set",
    ]


def test_shadow_and_refusals_change_nothing(ledger, live):
    _v1, _v2, _v3 = live
    route = set_route(ledger, "production", ["fraud@1=100"], ["bob"], shadows=["fraud@3"])
    assert route["shadows"][0]["label"] == "fraud@3"  # not gated: a shadow is never returned
    before = routing.show(ledger, "production")
    with pytest.raises(InvalidInput, match="sum to 95"):
        set_route(ledger, "production", ["fraud@1=90", "fraud@2=5"], ["bob"])
    with pytest.raises(NotFound, match="fraud@9"):
        set_route(ledger, "production", ["fraud@1=90", "fraud@9=10"], ["bob"])
    with pytest.raises(InvalidInput, match="must be one of the arms"):
        set_route(ledger, "production", ["fraud@2=100"], ["bob"])
    with pytest.raises(CheckFailed, match="auc"):  # fraud@3 scored 0.7 < the 0.8 floor
        set_route(ledger, "production", ["fraud@1=90", "fraud@3=10"], ["bob"])
    with pytest.raises(CheckFailed, match="four eyes"):
        set_route(ledger, "production", ["fraud@1=90", "fraud@2=10"], ["alice"])
    with pytest.raises(InvalidInput, match="takes your signing key"):
        routing.set_route(ledger, "production", ["fraud@1=90", "fraud@2=10"], [])
    assert routing.show(ledger, "production") == before


def test_promotion_or_rollback_ends_the_experiment(ledger, live):
    _v1, v2, _ = live
    set_route(ledger, "production", ["fraud@1=90", "fraud@2=10"], ["bob"])
    promote_approved(ledger, v2.id, "production", reason="canary won")
    route = routing.show(ledger, "production")
    assert route["revision"] is None and [a["label"] for a in route["arms"]] == ["fraud@2"]
    set_route(ledger, "production", ["fraud@2=50", "fraud@1=50"], ["bob"])
    assert routing.show(ledger, "production")["arms"][0]["label"] == "fraud@2"  # the live one leads
    rollback(ledger, "production", [], "back", key=key_for(ledger, "bob"))
    assert [a["label"] for a in routing.show(ledger, "production")["arms"]] == ["fraud@1"]


def test_the_sticky_key_outlives_the_experiment_and_same_route_is_no_new_event(ledger, live):
    _, v2, _ = live
    set_route(ledger, "production", ["fraud@1=90", "fraud@2=10"], ["bob"], sticky_key="user_id")
    again = set_route(
        ledger, "production", ["fraud@1=90", "fraud@2=10"], ["bob"], sticky_key="user_id"
    )
    assert again["event"] is None and again["revision"] == 1
    promote_approved(ledger, v2.id, "production")
    assert routing.show(ledger, "production")["sticky_key"] == "user_id"


def test_promotion_refuses_bytes_that_no_longer_match(ledger, live):
    import os

    _, v2, _ = live
    path = ledger.blobs.path(v2.tuple.artifact.sha256)
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(b"rot")
    with pytest.raises(CheckFailed, match="failed verification"):
        promote_approved(ledger, v2.id, "production")
    assert routing.show(ledger, "production")["arms"][0]["label"] == "fraud@1"


def test_the_audit_of_a_canary_answer_names_the_route_that_approved_it(ledger, live):
    from modelledger.client import log_predictions
    from modelledger.predictions.audit import audit_prediction

    _, v2, _ = live
    route = set_route(
        ledger, "production", ["fraud@1=90", "fraud@2=10"], ["carol"], reason="try GBM"
    )
    record = {
        "request_id": "r-canary",
        "version_id": v2.id,
        "arm": "canary-1",
        "output": 1,
        "features": {"x": 1},
    }
    log_predictions([record], "production", ledger=ledger)
    found = audit_prediction(ledger, "r-canary")
    assert found["role"] == "canary"
    assert found["route"]["event"] == route["event"] and found["route"]["approvers"] == ["carol"]
    assert found["route"]["gate"]["passed"] and found["route"]["reason"] == "try GBM"


def test_a_route_is_signed_by_an_approver_once_the_ledger_has_identities(ledger, project, live):
    from modelledger.identity import manage
    from modelledger.identity.signing import public_key_text
    from modelledger.ledger.audit import verify

    arms = ["fraud@1=90", "fraud@2=10"]
    with pytest.raises(InvalidInput, match="not approved by typed --approver names"):
        routing.set_route(ledger, "production", arms, ["bob"], key=key_for(ledger, "bob"))
    with pytest.raises(InvalidInput, match="takes your signing key"):
        routing.set_route(ledger, "production", arms, ["bob"])  # typed names alone: refused
    admin = key_of(project, "carol")
    manage.save(
        ledger, admin, "wes", grant=["writer"], add_keys=[public_key_text(key_of(project, "wes"))],
        create=True,
    )  # fmt: skip
    with pytest.raises(NotAllowed, match="needs the approver role"):
        routing.set_route(ledger, "production", arms, [], key=key_of(project, "wes"))
    route = routing.set_route(ledger, "production", arms, [], key=key_for(ledger, "bob"))
    [event] = log(ledger, EventQuery(kind="route.set")).events
    assert event.actor == "bob" and event.payload["by"] == "bob"
    assert event.payload["approvers"] == ["bob"] and route["set_by"] == "bob"
    assert verify(ledger).ok
    # what audit verify checks of it: the signature covers who signed and the route
    from modelledger.releases import acts

    d = manage.directory(ledger)
    assert acts.problem(d, "route.set", "production", event.payload) is None
    for forged in (
        {**event.payload, "by": "carol"},
        {**event.payload, "route": {**event.payload["route"], "sticky_key": "x"}},
        {k: v for k, v in event.payload.items() if k != "signed"},
    ):
        assert acts.problem(d, "route.set", "production", forged) is not None
