"""Who is who, replayed from the ledger's identity events. Pure: no database, no clock.

Three kinds of event change it. ``identity.root`` names the first admin and the key they sign
with, signed by that key: it is the ledger's first identity event, and trust in it is the
auditor's (a checkpoint taken after it anchors it). Every later ``identity.principal`` (a person
or service account: kind, grants, groups, disabled) and ``identity.key`` (a public key added to
a principal, or revoked) is signed by an admin's active key at that point of the log; so is
``identity.token``, an API token issued to a principal (its id, scopes, expiry and the sha256 of
its secret, never the secret) or revoked.

Each signed statement carries ``prev``, the hash of the identity event before it, and the
ledger's name (its first event's hash): an old signed change appended again, or one copied from
another ledger, no longer follows its predecessor and is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from modelledger.core.errors import InvalidInput
from modelledger.identity import signing
from modelledger.identity.roles import SCOPES, Grant, allows, parse_grant, scopes_allow

FORMAT = "mledger-identity/1"
KINDS = ("identity.root", "identity.principal", "identity.key", "identity.token")
TOKEN_PREFIX = "mlt_"
_TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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
class Token:
    """An API token: who it acts for, with which scopes, until when. Its secret is known by
    its sha256 only."""

    id: str  # 16 hex; the secret is ``mlt_<id>_<random>``
    principal: str
    scopes: tuple[str, ...]
    expires_at: str  # a ledger timestamp: the token is refused from then on
    sha256: str  # of the whole secret's UTF-8 text
    issued_seq: int
    note: str | None = None
    revoked_seq: int | None = None

    def allows(self, role: str) -> bool:
        return scopes_allow(self.scopes, role)

    def status(self, at: str) -> str:
        if self.revoked_seq is not None:
            return "revoked"
        return "expired" if at >= self.expires_at else "active"

    def to_json(self, at: str | None = None) -> dict[str, Any]:
        out = {
            "id": self.id,
            "principal": self.principal,
            "scopes": list(self.scopes),
            "expires_at": self.expires_at,
            "note": self.note,
            "issued_event": self.issued_seq,
            "revoked_event": self.revoked_seq,
        }
        if at is not None:
            out["status"] = self.status(at)
        return out


def secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def token_id_of(secret: str) -> str | None:
    """The id a token's secret names (``mlt_<id>_<random>``), None when it has no such shape."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    tid, sep, rest = secret[len(TOKEN_PREFIX) :].partition("_")
    return tid if sep and rest and _TOKEN_ID.match(tid) else None


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
    tokens: dict[str, Token] = field(default_factory=dict)
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

    def bearer(self, secret: str, at: str) -> tuple[Token, Principal] | None:
        """The token whose secret this is and its principal, while the token is neither expired
        (at ``at``, a ledger timestamp) nor revoked and the principal is enabled; else None,
        whatever the reason (a caller is told nothing more)."""
        tid = token_id_of(secret)
        token = self.tokens.get(tid) if tid is not None else None
        if token is None or not hmac.compare_digest(token.sha256, secret_sha256(secret)):
            return None
        if token.status(at) != "active":
            return None
        who = self.principals.get(token.principal)
        return (token, who) if who is not None and not who.disabled else None

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
        elif kind == "identity.token":
            if p["action"] == "issue":
                scopes = tuple(p["scopes"])
                if not scopes or any(s not in SCOPES for s in scopes):
                    raise ValueError(f"scopes are some of {', '.join(SCOPES)}")
                if not _SHA256.match(str(p["sha256"])) or not isinstance(p["expires_at"], str):
                    raise ValueError("sha256 is 64 hex digits; expires_at a timestamp")
                self.tokens[p["id"]] = Token(
                    p["id"],
                    p["principal"],
                    scopes,
                    p["expires_at"],
                    p["sha256"],
                    seq,
                    p.get("note"),
                )
            else:
                self.tokens[p["id"]] = replace(self.tokens[p["id"]], revoked_seq=seq)
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
        if ev.kind == "identity.token":
            return self._token_refusal(p)
        return None

    def _token_refusal(self, p: dict[str, Any]) -> str | None:
        tid = p.get("id")
        known = self.tokens.get(str(tid))
        if p.get("action") == "issue":
            if not isinstance(tid, str) or not _TOKEN_ID.match(tid):
                return "a token id is 16 hex digits"
            if known is not None:
                return "issues a token id that was issued before"
            if p.get("principal") not in self.principals:
                return f"issues a token to the unknown principal {p.get('principal')!r}"
            if any(t.sha256 == p.get("sha256") for t in self.tokens.values()):
                return "issues a token whose secret was issued before"
            return None
        if p.get("action") == "revoke":
            if known is None or known.revoked_seq is not None:
                return "revokes a token that is not active"
            return None
        return "a token is issued or revoked"


def statement_of(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What the signature of an identity event covers: its payload bar the signature."""
    # bar also what the ledger adds on appending (digests of rows written with the event)
    body = {k: v for k, v in payload.items() if k not in ("signed", "bound", "log")}
    return {**body, "format": FORMAT, "kind": kind}


def replay(ledger: str | None, events: Iterable[IdentityEvent]) -> Directory:
    d = Directory(ledger=ledger)
    for ev in events:
        d.apply(ev)
    return d
