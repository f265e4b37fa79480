"""The registry API on SQLite and PostgreSQL: tokens, roles, signed requests and approvals."""

from __future__ import annotations

import json

from modelledger.identity import manage, tokens
from modelledger.ledger.audit import verify as verify_chain
from modelledger.ledger.home import now
from modelledger.releases.signatures import sign_decision, sign_request
from tests.server.conftest import LOCK


def test_register_resolve_show_and_the_actor_is_the_tokens_principal(team):
    done = team.register("wes", b"weights-1", params={"lr": 0.1})
    assert done.status_code == 201, done.text
    v = done.json()
    assert v["label"] == "churn@1" and v["registered_by"] == "wes" and v["created"]
    again = team.register("wes", b"weights-1", params={"lr": 0.1})
    assert (
        again.status_code == 200 and again.json()["id"] == v["id"] and not again.json()["created"]
    )
    assert team.get("/resolve/churn@1").json() == {"ref": "churn@1", "id": v["id"]}
    shown = team.get(f"/versions/{v['id'][:12]}").json()
    assert shown["id"] == v["id"] and shown["tuple"]["params"] == {"lr": 0.1}
    assert shown["manifest"]["artifact_source"] == "upload:artifact"
    events = team.get("/events", params={"kind": "model.registered"}).json()
    assert [(e["subject"], e["actor"]) for e in events] == [(v["id"], "wes")]


def test_multipart_upload_with_a_lock_part(team):
    meta = {"name": "fraud", "code_ref": "git@example:fraud#2", "filename": "model.pkl"}
    done = team.post(
        "/versions", "alice",
        files={"metadata": (None, json.dumps(meta)), "artifact": ("model.pkl", b"\x00" * 5000),
               "lock": ("uv.lock", LOCK.encode())},
    )  # fmt: skip
    assert done.status_code == 201, done.text
    v = done.json()
    assert v["tuple"]["artifact"]["size"] == 5000 and v["tuple"]["lock_sha256"]
    assert v["manifest"]["artifact_source"] == "upload:model.pkl"


def test_bad_uploads_are_4xx_never_5xx(team):
    cases = [
        ({"content": b"x", "params": {"metadata": "{not json"}}, 422, "not JSON"),
        ({"content": b"x", "params": {"metadata": json.dumps({"name": "a"})}}, 422, "code_ref"),
        (
            {"content": b"x", "params": {"metadata": json.dumps({"name": "a", "code_ref": "r"})}},
            422,
            "lock",
        ),
        (
            {"content": b"x", "params": {"metadata": json.dumps({"name": "a", "seed": True})}},
            422,
            "seed",
        ),
        ({"content": b"x", "params": {"metadata": json.dumps({"nom": "a"})}}, 422, "name"),
        (
            {
                "content": b"--x\r\nbad",
                "headers": {"Content-Type": "multipart/form-data; boundary=x"},
            },
            400,
            "header",
        ),
        ({"content": b"x", "headers": {"Content-Type": "multipart/form-data"}}, 400, "boundary"),
        ({"content": b"x" * (5 << 20)}, 413, "larger than"),
    ]
    for kw, status, words in cases:
        headers = {"Content-Type": "application/octet-stream", **kw.pop("headers", {})}
        got = team.post("/versions", "alice", headers=headers, **kw)
        assert got.status_code == status, (kw.get("params"), got.text)
        assert words in got.json()["error"]
    big = team.post("/requests/draft", "alice", content=b"{" + b" " * (2 << 20) + b"}",
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert big.status_code == 413
    assert team.get("/versions/churn@9").status_code == 404
    assert team.get("/versions/nope!").status_code == 422
    assert team.get("/events", params={"limit": 0}).status_code == 422
    assert team.client.get("/api/v1/nowhere").json() == {"error": "Not Found"}


def test_forged_expired_revoked_and_disabled_tokens_are_refused(team, monkeypatch):
    ok = team.get("/whoami", "rita")
    assert ok.status_code == 200 and ok.json()["name"] == "rita" and ok.json()["scopes"] == ["read"]
    real = team.tokens["rita"]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    refusals = []
    for header in (f"Bearer {forged}", "Bearer mlt_0123456789abcdef_guess", "Basic abc", "", None):
        got = team.client.get(
            "/api/v1/whoami", headers={"Authorization": header} if header is not None else {}
        )
        refusals.append((got.status_code, got.json()["error"], got.headers.get("www-authenticate")))
    assert len(set(refusals)) == 1 and refusals[0][0] == 401 and refusals[0][2] == "Bearer"
    team.client.app.state.authenticator.limiter.forget()
    # revoked: by any admin, seen on the next request
    admin = team.key("carol")
    tid = real.split("_")[1]
    tokens.revoke(team.ledger, admin, tid)
    assert team.get("/whoami", "rita").status_code == 401
    # expired: a token whose time is up
    short = tokens.create(team.ledger, admin, "bob", ["read"], expires="1h").secret
    headers = {"Authorization": f"Bearer {short}"}
    assert team.client.get("/api/v1/whoami", headers=headers).status_code == 200
    import modelledger.server.auth as auth_module

    monkeypatch.setattr(auth_module, "now", lambda: "2999-01-01T00:00:00.000000Z")
    assert team.client.get("/api/v1/whoami", headers=headers).status_code == 401
    monkeypatch.undo()
    # a disabled principal's tokens stop working
    assert team.get("/whoami", "wes").status_code == 200
    manage.save(team.ledger, admin, "wes", disabled=True)
    assert team.get("/whoami", "wes").status_code == 401
    # none of it ever left a secret in the ledger
    text = json.dumps(team.get("/events", "carol", params={"limit": 1000}).json())
    assert all(secret not in text for secret in team.tokens.values())


def test_failed_authentications_are_rate_limited_per_address(team):
    bad = {"Authorization": "Bearer mlt_0123456789abcdef_nope"}
    codes = [team.client.get("/api/v1/whoami", headers=bad).status_code for _ in range(7)]
    assert codes == [401] * 5 + [429] * 2
    limited = team.get("/whoami", "rita")  # the same address, a good token: still limited
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_a_token_never_grants_more_than_its_principals_roles_nor_its_scopes(team):
    admin = team.key("carol")
    import pytest

    from modelledger.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="never grants more"):
        tokens.create(team.ledger, admin, "rita", ["write"])
    reading = tokens.create(team.ledger, admin, "alice", ["read"]).secret
    got = team.client.post(
        "/api/v1/versions", headers={"Authorization": f"Bearer {reading}"}, content=b"x",
        params={"metadata": json.dumps({"name": "churn", "code_ref": "r", "lock": LOCK})},
    )  # fmt: skip
    assert got.status_code == 403 and "scopes (read)" in got.json()["error"]
    # a role taken away after the token was issued: the token loses it too
    manage.save(team.ledger, admin, "wes", revoke=["writer"], grant=["reader"])
    assert team.register("wes").status_code == 403


def test_a_writer_cannot_approve_nor_change_policy(team):
    assert team.register("alice").status_code == 201
    opened = team.open("wes", "churn@1")
    assert opened.status_code == 201, opened.text
    rid = opened.json()["id"]
    refused = team.decide("wes", rid)
    assert refused.status_code == 403 and "no approver role" in refused.json()["error"]
    policy = {"policy": {"approvers": 0}, "key": "ed25519:" + "00" * 32}
    put = team.client.put(
        "/api/v1/environments/production/policy", json=policy, headers=team.h("wes")
    )
    assert put.status_code == 403 and "admin" in put.json()["error"]
    assert team.get("/environments/production").json()["id"] is None


def test_an_admin_sets_a_policy_signed_with_their_own_key(team):
    from modelledger.identity import signing

    public = signing.public_key_text(team.key("carol"))
    path = "/api/v1/environments/staging/policy"
    ask = team.client.put(
        path,
        json={"policy": {"approvers": 0, "four_eyes": False}, "key": public},
        headers=team.h("carol"),
    )
    assert ask.status_code == 409, ask.text
    statement = ask.json()["statement"]
    assert statement["env"] == "staging" and statement["by"] == "carol"
    signed = signing.sign(team.key("carol"), statement)
    done = team.client.put(
        path,
        json={"policy": {"approvers": 0, "four_eyes": False}, "signed": signed},
        headers=team.h("carol"),
    )
    assert done.status_code == 200 and done.json()["changed"], done.text
    # the signature of one policy does not set another
    other = team.client.put(
        path, json={"policy": {"approvers": 2}, "signed": signed}, headers=team.h("carol")
    )
    assert other.status_code == 409 and "statement" in other.json()
    # a policy needing no approval: a writer promotes at once, as themselves
    assert team.register("alice").status_code == 201
    moved = team.post("/promotions", "wes", json={"ref": "churn@1", "env": "staging"})
    assert moved.status_code == 201, moved.text
    assert team.get("/environments/staging").json()["promoted_by"] == "wes"
    assert verify_chain(team.ledger).ok


def test_promotion_through_the_api_refuses_self_approval(team):
    assert team.register("alice").status_code == 201  # alice registered churn@1
    opened = team.open("wes", "churn@1")
    assert opened.status_code == 201, opened.text
    state = opened.json()
    assert state["status"] == "pending" and state["requester"] == "wes"
    rid = state["id"]
    by_registrant = team.decide("alice", rid)
    assert (
        by_registrant.status_code == 403
        and "alice registered churn@1" in by_registrant.json()["error"]
    )
    # alice requests a version bob registered: alice may not approve her own request
    manage.save(team.ledger, team.key("carol"), "bob", grant=["writer"])
    bob_writes = tokens.create(team.ledger, team.key("carol"), "bob", ["write"]).secret
    team.tokens["bob-writer"] = bob_writes
    got = team.client.post(
        "/api/v1/versions", headers=team.h("bob-writer"), content=b"w2",
        params={"metadata": json.dumps({"name": "churn", "code_ref": "r2", "lock": LOCK})},
    )  # fmt: skip
    assert got.status_code == 201, got.text
    mine = team.open("alice", "churn@2")
    assert mine.status_code == 201, mine.text
    by_requester = team.decide("alice", mine.json()["id"])
    assert (
        by_requester.status_code == 403
        and "alice requested this promotion" in by_requester.json()["error"]
    )
    # bob approves wes's request for churn@1: it moves, and the chain verifies
    done = team.decide("bob", rid)
    assert done.status_code == 200, done.text
    assert done.json()["promoted"] and done.json()["request"]["approved_by"] == ["bob"]
    live = team.get("/environments/production").json()
    assert (
        live["label"] == "churn@1"
        and live["promoted_by"] == "wes"
        and live["approved_by"] == ["bob"]
    )
    assert team.get("/resolve/churn@production").json()["id"] == live["id"]
    assert verify_chain(team.ledger).ok
    listed = team.get("/requests", params={"all": True}).json()
    assert {r["id"]: r["status"] for r in listed}[rid] == "promoted"


def test_a_signature_for_one_request_is_refused_on_another(team):
    assert team.register("alice", b"w1").status_code == 201
    assert team.register("alice", b"w2", code_ref="r2").status_code == 201
    first = team.open("wes", "churn@1").json()
    # a second request, for churn@2 (the first is pending, for the same environment)
    second = team.open("wes", "churn@2").json()
    body = sign_decision(first, team.key("bob"), "bob", "approve", None, at=now())
    moved = team.post(f"/requests/{second['id']}/approve", "bob", json=body)
    assert moved.status_code == 403 and "signature does not verify" in moved.json()["error"]
    # a request signed by one writer is not opened by another
    drafted = team.draft("wes", "churn@2").json()["request"]
    stolen = team.post("/requests", "alice", json=sign_request(drafted, team.key("wes")))
    assert stolen.status_code == 403 and "names wes as its requester" in stolen.json()["error"]
    # nor with someone else's key, nor twice
    by_alice = team.post("/requests", "wes", json=sign_request(drafted, team.key("alice")))
    assert by_alice.status_code == 403 and "not one of wes's" in by_alice.json()["error"]
    body = sign_request(drafted, team.key("wes"))
    assert team.post("/requests", "wes", json=body).status_code == 201
    assert team.post("/requests", "wes", json=body).status_code == 409
    # a request altered after signing
    tampered = {**body, "request": {**body["request"], "reason": "changed"}}
    assert team.post("/requests", "wes", json=tampered).status_code == 422
    # an approval dated far from the ledger's clock
    late = sign_decision(
        first, team.key("bob"), "bob", "approve", None, at="2000-01-01T00:00:00.000000Z"
    )
    assert team.post(f"/requests/{first['id']}/approve", "bob", json=late).status_code == 422


def test_reject_needs_a_reason_and_closes_the_request(team):
    assert team.register("alice").status_code == 201
    rid = team.open("wes", "churn@1").json()["id"]
    assert team.decide("bob", rid, "reject").status_code == 422
    done = team.decide("bob", rid, "reject", "not yet")
    assert done.status_code == 200 and done.json()["request"]["status"] == "rejected"
    assert team.decide("bob", rid).status_code == 409
    assert team.get("/requests").json() == []
