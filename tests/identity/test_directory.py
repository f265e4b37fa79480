"""The directory replayed from signed identity events: pure, no database."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from modelledger.core.errors import InvalidInput
from modelledger.identity import signing
from modelledger.identity.directory import IdentityEvent, replay, statement_of
from modelledger.identity.roles import Grant, allows, parse_grant

LEDGER = "f" * 64
ROOT, BOB, EVE = (Ed25519PrivateKey.generate() for _ in range(3))


def pub(key):
    return signing.public_key_text(key)


class Log:
    """Signed identity events as store.append_signed writes them."""

    def __init__(self):
        self.events: list[IdentityEvent] = []

    def add(self, kind, body, by):
        seq = len(self.events) + 2  # event 1 is some other event: the ledger's name
        prev = self.events[-1].hash if self.events else None
        payload = {**body, "ledger": LEDGER, "prev": prev}
        payload["signed"] = signing.sign(by, statement_of(kind, payload))
        ev = IdentityEvent(seq, kind, payload, f"{seq:064x}")
        self.events.append(ev)
        return ev

    def principal(self, name, grants, by, groups=(), disabled=False, kind="person"):
        body = {
            "name": name,
            "kind": kind,
            "grants": grants,
            "groups": list(groups),
            "disabled": disabled,
        }
        return self.add("identity.principal", body, by)

    def key(self, name, key, by, action="add"):
        return self.add("identity.key", {"principal": name, "key": pub(key), "action": action}, by)


def rooted():
    log = Log()
    log.add("identity.root", {"name": "root", "key": pub(ROOT)}, ROOT)
    log.principal("bob", ["approver:production"], ROOT, groups=["risk"])
    log.key("bob", BOB, ROOT)
    return log


def test_roles_and_grants():
    assert parse_grant("approver:prod") == Grant("approver", "prod")
    for bad, why in (
        ("boss", "unknown role"),
        ("writer:prod", "per environment"),
        ("approver:", "after the colon"),
    ):
        with pytest.raises(InvalidInput, match=why):
            parse_grant(bad)
    prod = [Grant("approver", "prod")]
    assert allows(prod, "approver", "prod") and not allows(prod, "approver", "staging")
    assert allows(prod, "reader") and not allows(prod, "writer")
    assert allows([Grant("admin")], "approver", "anything") and allows([Grant("writer")], "reader")


def test_a_rooted_directory_knows_its_people_and_keys():
    d = replay(LEDGER, rooted().events)
    assert d.problems == []
    bob = d.signer(pub(BOB))
    assert bob is not None and bob.groups == ("risk",) and bob.can("approver", "production")
    assert not bob.can("approver", "staging") and not bob.can("admin")
    assert d.signer(pub(ROOT)).can("admin") and d.signer(pub(EVE)) is None


def test_a_change_not_signed_by_an_admin_is_left_out():
    log = rooted()
    log.principal("bob", ["admin"], BOB)  # bob makes himself admin
    log.key("eve", EVE, BOB)
    d = replay(LEDGER, log.events)
    assert [why for _, why in d.problems] == [
        "not signed by an active key of an admin",
        "not signed by an active key of an admin",
    ]
    assert not d.principals["bob"].can("admin")


def test_a_replayed_or_foreign_change_is_refused():
    log = rooted()
    grant = log.principal("eve", ["approver"], ROOT)
    log.key("eve", EVE, ROOT)
    log.principal("eve", [], ROOT)  # eve's role taken away
    # the signed grant appended again (by anyone who can write the database)
    log.events.append(IdentityEvent(99, grant.kind, grant.payload, "9" * 64))
    d = replay(LEDGER, log.events)
    assert d.problems == [
        (99, "does not follow the identity event before it (replayed or reordered)")
    ]
    assert not d.principals["eve"].can("approver", "production")
    # the same events under another ledger's name
    other = replay("e" * 64, rooted().events)
    assert other.empty and other.problems[0][1] == "signed for another ledger"


def test_revoked_keys_and_disabled_people_sign_nothing():
    log = rooted()
    log.key("bob", BOB, ROOT, action="revoke")
    assert replay(LEDGER, log.events).signer(pub(BOB)) is None
    log = rooted()
    log.principal("bob", ["approver:production"], ROOT, groups=["risk"], disabled=True)
    assert replay(LEDGER, log.events).signer(pub(BOB)) is None


def test_a_second_root_and_a_root_signed_by_another_key_are_refused():
    log = rooted()
    log.add("identity.root", {"name": "eve", "key": pub(EVE)}, EVE)
    assert replay(LEDGER, log.events).problems[-1][1].startswith("a second root")
    log = Log()
    log.add("identity.root", {"name": "eve", "key": pub(EVE)}, ROOT)
    assert replay(LEDGER, log.events).problems == [(2, "the root is not signed by its own key")]


@given(st.lists(st.sampled_from(["grant", "revoke-key", "forge", "replay", "disable"]), max_size=8))
def test_no_sequence_of_changes_lets_a_non_admin_become_admin(steps):
    log = rooted()
    for step in steps:
        if step == "grant":
            log.principal("bob", ["approver:production"], ROOT, groups=["risk"])
        elif step == "revoke-key" and replay(LEDGER, log.events).signer(pub(BOB)):
            log.key("bob", BOB, ROOT, action="revoke")
        elif step == "forge":
            log.principal("bob", ["admin"], BOB)
        elif step == "replay":
            first = log.events[1]
            log.events.append(
                IdentityEvent(len(log.events) + 2, first.kind, first.payload, "a" * 64)
            )
        elif step == "disable":
            log.principal("bob", ["approver:production"], ROOT, disabled=True)
    d = replay(LEDGER, log.events)
    assert not d.principals["bob"].can("admin")
    assert d.signer(pub(ROOT)).can("admin")
