"""API tokens for ``mledger server``: issued to a principal by an admin, revoked by an admin.

A token is an ``identity.token`` event like any other identity change: signed by an admin's key,
chained to the identity event before it, replayed into the directory. So no table holds tokens
and every replica of the server sees the same ones. The event records the token's id, its
principal, scopes, expiry and the sha256 of its secret; the secret itself (``mlt_<id>_<random>``,
256 random bits) is printed once, to whoever issued it, and kept nowhere.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelledger.core.clock import format_time, parse_time
from modelledger.core.errors import InvalidInput, NotAllowed, NotFound
from modelledger.core.stats import parse_duration
from modelledger.identity import signing, store
from modelledger.identity.directory import TOKEN_PREFIX, Directory, Token, secret_sha256
from modelledger.identity.roles import check_name, parse_scopes, scope_role
from modelledger.ledger.home import Ledger, now

DEFAULT_EXPIRY = "30d"
LONGEST = "366d"


@dataclass(frozen=True)
class Issued:
    token: Token
    secret: str  # shown once; the ledger keeps its sha256 only
    event_seq: int

    def to_json(self) -> dict[str, Any]:
        return {**self.token.to_json(), "secret": self.secret, "event": self.event_seq}


def create(
    ledger: Ledger,
    admin_key: Any,
    principal: str,
    scopes: Sequence[str] = ("read",),
    expires: str = DEFAULT_EXPIRY,
    note: str | None = None,
) -> Issued:
    """Issue a token acting for ``principal`` with ``scopes`` (each within their roles) until
    ``expires`` from now, signed by ``admin_key``."""
    check_name(principal, "principal")
    wanted = parse_scopes(scopes)
    span = parse_duration(expires, "--expires")
    if span > parse_duration(LONGEST, "--expires"):
        raise InvalidInput(f"--expires {expires!r}: at most {LONGEST}; issue a new token then")
    if note is not None and len(note) > 200:
        raise InvalidInput("--note: at most 200 characters")
    tid = secrets.token_hex(8)
    secret = f"{TOKEN_PREFIX}{tid}_{secrets.token_urlsafe(32)}"
    with ledger.db.write() as conn:
        d = store.directory(conn)
        actor = _admin(d, admin_key)
        who = d.principals.get(principal)
        if who is None:
            raise NotFound(f"no principal {principal!r} (`mledger identity list`)")
        if who.disabled:
            raise InvalidInput(f"{principal} is disabled: enable them first")
        beyond = [s for s in wanted if not who.can(scope_role(s))]
        if beyond:
            raise InvalidInput(
                f"{principal} holds no {', '.join(scope_role(s) for s in beyond)} role: a token "
                "never grants more than its principal's roles"
            )
        at = now()
        body = {
            "action": "issue",
            "id": tid,
            "principal": principal,
            "scopes": list(wanted),
            "expires_at": format_time(parse_time(at) + span),
            "sha256": secret_sha256(secret),
            "note": note,
        }
        ev = store.append_signed(conn, "identity.token", f"tok-{tid}", actor, at, body, admin_key)
        token = store.directory(conn).tokens[tid]
    return Issued(token, secret, ev.seq)


def listing(ledger: Ledger, everything: bool = False) -> list[dict[str, Any]]:
    """Tokens, newest first, with their status now (active ones only unless ``everything``)."""
    with ledger.db.read() as conn:
        d = store.directory(conn)
    at = now()
    found = sorted(d.tokens.values(), key=lambda t: t.issued_seq, reverse=True)
    return [t.to_json(at) for t in found if everything or t.status(at) == "active"]


def revoke(ledger: Ledger, admin_key: Any, text: str) -> dict[str, Any]:
    """Revoke the token with this id (``tok-`` optional, a unique prefix will do)."""
    want = text.removeprefix("tok-")
    with ledger.db.write() as conn:
        d = store.directory(conn)
        actor = _admin(d, admin_key)
        found = [t for t in d.tokens.values() if t.id.startswith(want)] if want else []
        if len(found) != 1:
            raise NotFound(
                f"no one token {text!r}" + (f" ({len(found)} match)" if found else "")
                + " (`mledger token list --all`)"
            )  # fmt: skip
        token = found[0]
        if token.revoked_seq is not None:
            raise InvalidInput(f"token {token.id} was revoked already (event #{token.revoked_seq})")
        body = {"action": "revoke", "id": token.id}
        at = now()
        ev = store.append_signed(
            conn, "identity.token", f"tok-{token.id}", actor, at, body, admin_key
        )
    return {**token.to_json(), "revoked_event": ev.seq, "status": "revoked"}


def _admin(d: Directory, admin_key: Any) -> str:
    who = d.signer(signing.public_key_text(admin_key))
    if who is None or not who.can("admin"):
        if d.empty:
            raise InvalidInput(
                "no identities yet: `mledger identity init NAME` names the first admin"
            )
        raise NotAllowed("issuing and revoking tokens takes an admin's key (--key or MLEDGER_KEY)")
    return who.name
