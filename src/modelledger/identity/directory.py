"""Who is who, replayed from the ledger's identity events. Pure: no database, no clock.

Three kinds of event change it. ``identity.root`` names the first admin and the key they sign
with, signed by that key: it is the ledger's first identity event, and trust in it is the
auditor's (a checkpoint taken after it anchors it). Every later ``identity.principal`` (a person
or service account: kind, grants, groups, disabled) and ``identity.key`` (a public key added to
a principal, or revoked) is signed by an admin's active key at that point of the log.

Each signed statement carries ``prev``, the hash of the identity event before it, and the
ledger's name (its first event's hash): an old signed change appended again, or one copied from
another ledger, no longer follows its predecessor and is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from modelledger.core.errors import InvalidInput
from modelledger.identity import signing
from modelledger.identity.roles import Grant, allows, parse_grant

FORMAT = "mledger-identity/1"
KINDS = ("identity.root", "identity.principal", "identity.key")


@dataclass(frozen=True)
class Principal:
    name: str
    kind: str  # person | service
    grants: tuple[Grant, ...] = ()
    groups: tuple[str, ...] = ()
    disabled: bool = False

    def can(self, role: str, env: str | None = None) -> bool:
        return not self.disabled and allows(self.grants, role, env)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "grants": [str(g) for g in self.grants],
            "groups": list(self.groups),
            "disabled": self.disabled,
        }


@dataclass(frozen=True)
class Key:
    key: str  # ed25519:<hex>
    principal: str
    added_seq: int
    revoked_seq: int | None = None

    @property
    def fingerprint(self) -> str:
        return signing.fingerprint(self.key)


@dataclass(frozen=True)
class IdentityEvent:
    seq: int
    kind: str
    payload: dict[str, Any]
    hash: str


@dataclass
class Directory:
    ledger: str | None = None  # the first event's hash, which every statement names
    principals: dict[str, Principal] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    tip: str | None = None  # the last identity event's hash: the next one's ``prev``
    problems: list[tuple[int, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.principals

    def signer(self, key: str) -> Principal | None:
        """The enabled principal whose active key this is."""
        found = self.keys.get(key)
        if found is None or found.revoked_seq is not None:
            return None
        who = self.principals.get(found.principal)
        return who if who is not None and not who.disabled else None

    def keys_of(self, name: str) -> list[Key]:
        return [k for k in self.keys.values() if k.principal == name]

    def apply(self, ev: IdentityEvent) -> None:
        """Fold one identity event in; a change that does not verify is noted and left out."""
        why = self._refusal(ev)
        self.tip = ev.hash
        if why is not None:
            self.problems.append((ev.seq, why))
            return
        try:
            self._change(ev.seq, ev.kind, ev.payload)
        except (KeyError, TypeError, ValueError, InvalidInput) as exc:  # signed, yet malformed
            self.problems.append((ev.seq, f"malformed: {exc}"))

    def _change(self, seq: int, kind: str, p: dict[str, Any]) -> None:
        if kind == "identity.root":
            self.principals[p["name"]] = Principal(p["name"], "person", (Grant("admin"),))
            self.keys[p["key"]] = Key(p["key"], p["name"], seq)
        elif kind == "identity.principal":
            if p["kind"] not in ("person", "service") or not isinstance(p["disabled"], bool):
                raise ValueError("kind is person or service; disabled is true or false")
            self.principals[p["name"]] = Principal(
                p["name"],
                p["kind"],
                tuple(sorted(parse_grant(g) for g in p["grants"])),
                tuple(sorted(p["groups"])),
                bool(p["disabled"]),
            )
        elif p["action"] == "add":
            self.keys[p["key"]] = Key(p["key"], p["principal"], seq)
        else:
            self.keys[p["key"]] = replace(self.keys[p["key"]], revoked_seq=seq)

    def _refusal(self, ev: IdentityEvent) -> str | None:
        p = ev.payload
        signed = p.get("signed") or {}
        statement = statement_of(ev.kind, p)
        if statement.get("ledger") != (None if ev.seq == 1 else self.ledger):
            return "signed for another ledger"
        if statement.get("prev") != self.tip:
            return "does not follow the identity event before it (replayed or reordered)"
        if not signing.signature_ok(str(signed.get("key")), statement, str(signed.get("sig"))):
            return "its signature does not verify"
        if ev.kind == "identity.root":
            if not self.empty:
                return "a second root: the ledger's identities were set up already"
            if signed.get("key") != p.get("key"):
                return "the root is not signed by its own key"
            return None
        admin = self.signer(str(signed.get("key")))
        if admin is None or not admin.can("admin"):
            return "not signed by an active key of an admin"
        if ev.kind == "identity.key":
            known = self.keys.get(str(p.get("key")))
            if p.get("principal") not in self.principals:
                return f"names the unknown principal {p.get('principal')!r}"
            if p.get("action") == "add" and known is not None:
                return "adds a key that was added before (a key belongs to one principal, once)"
            if p.get("action") == "revoke" and (known is None or known.principal != p["principal"]):
                return "revokes a key the principal does not have"
        return None


def statement_of(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What the signature of an identity event covers: its payload bar the signature."""
    body = {k: v for k, v in payload.items() if k != "signed"}
    return {**body, "format": FORMAT, "kind": kind}


def replay(ledger: str | None, events: Iterable[IdentityEvent]) -> Directory:
    d = Directory(ledger=ledger)
    for ev in events:
        d.apply(ev)
    return d
