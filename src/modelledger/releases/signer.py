"""Signing an act (a policy change, a rollback) as the person doing it, once identities exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from modelledger.core.errors import InvalidInput, NotAllowed
from modelledger.identity import signing
from modelledger.identity import store as identities
from modelledger.releases import acts


@dataclass(frozen=True)
class Signer:
    name: str
    ledger: str | None
    key: Any

    def seal(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` naming the ledger and the signer, signed."""
        out = {**payload, "ledger": self.ledger, "by": self.name}
        out["signed"] = signing.sign(self.key, acts.statement(kind, out))
        return out


def signer_for(conn: Connection, kind: str, env: str, private_key: Any) -> Signer | None:
    """Who signs ``kind`` in ``env`` with ``private_key``, checked against the directory: they
    need the act's role. None when the ledger has no identities (nothing is signed then)."""
    d = identities.directory(conn)
    if d.empty:
        return None
    what, role = acts.WHAT[kind], acts.ROLES[kind]
    if private_key is None:
        raise InvalidInput(
            f"{what} takes your signing key once the ledger has identities (--key or MLEDGER_KEY)"
        )
    who = d.signer(signing.public_key_text(private_key))
    if who is None or not who.can(role, env):
        name = who.name if who else "this key's owner"
        raise NotAllowed(f"{what} needs the {role} role for {env}, which {name} does not hold")
    return Signer(who.name, d.ledger, private_key)


def signer_or_names(
    conn: Connection, kind: str, env: str, private_key: Any, typed: list[str]
) -> tuple[Signer | None, list[str]]:
    """For an act approved by typed names before identities and signed after: (the signer, and
    they as the one approver) once the ledger has identities, where typed names are refused;
    else (None, the typed names)."""
    signer = signer_for(conn, kind, env, private_key)
    if signer is None:
        return None, typed
    if typed:
        raise InvalidInput(
            f"this ledger has identities: {acts.WHAT[kind]} is signed with your key (--key or "
            "MLEDGER_KEY), not approved by typed --approver names"
        )
    return signer, [signer.name]


def sign_act(
    conn: Connection, kind: str, env: str, payload: dict[str, Any], private_key: Any
) -> tuple[str | None, dict[str, Any]]:
    """(who, ``payload`` signed by them), or (None, ``payload``) without identities."""
    signer = signer_for(conn, kind, env, private_key)
    return (None, payload) if signer is None else (signer.name, signer.seal(kind, payload))
