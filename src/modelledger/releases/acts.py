"""Acts that, once a ledger has identities, are signed by the person doing them: setting a gate
policy (an admin), rolling back and routing traffic (an approver for the environment, or an
admin). Pure.

The signature covers the event's payload bar itself, which names the ledger, the environment,
the before and after, and the signer (``by``); so it cannot be moved to another act.
"""

from __future__ import annotations

from typing import Any

from modelledger.identity import signing
from modelledger.identity.directory import Directory

FORMAT = "mledger-act/1"
ROLES = {"env.policy": "admin", "rollback": "approver", "route.set": "approver"}
WHAT = {"env.policy": "setting a gate policy", "rollback": "a rollback", "route.set": "a route"}


# what the ledger adds to a payload when it appends the event (the digests of the rows written
# with it), which the signer never saw
_ADDED = ("signed", "bound", "log")


def statement(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in payload.items() if k not in _ADDED}
    return {**body, "format": FORMAT, "kind": kind}


def problem(d: Directory, kind: str, env: str, payload: dict[str, Any]) -> str | None:
    """Why this act does not verify under the directory of its time (None: it does). Before
    identities existed, acts were unsigned: that is history, not a problem."""
    if d.empty:
        return None
    signed = payload.get("signed")
    if not isinstance(signed, dict):
        return f"{WHAT[kind]} after identities were set up, unsigned"
    key, sig = str(signed.get("key")), str(signed.get("sig"))
    if payload.get("ledger") != d.ledger or not signing.signature_ok(
        key, statement(kind, payload), sig
    ):
        return f"{WHAT[kind]} whose signature does not verify"
    who = d.signer(key)
    if who is None or who.name != payload.get("by"):
        return f"{WHAT[kind]} signed by no active key of {payload.get('by')!r}"
    if not who.can(ROLES[kind], env):
        return f"{WHAT[kind]} by {who.name}, who holds no {ROLES[kind]} role for {env}"
    return None
