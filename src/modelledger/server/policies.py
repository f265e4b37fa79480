"""``PUT /environments/{env}/policy``: an admin sets a gate policy, signed by their own key.

Setting a policy is a signed act once a ledger has identities (``releases.acts``), and what it
signs holds no timestamp: the environment, the policy, its hash, the one it replaces and its
revision number. So the server runs the ordinary use case with a stand-in for the admin's key
(``RemoteKey``): asked to sign, it hands over the client's signature when that signature is for
exactly these bytes, and otherwise stops the use case (nothing is written) with the statement
the client must sign. The client signs it and sends the same policy again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelledger.core.errors import MledgerError, NotAllowed
from modelledger.identity import signing
from modelledger.identity.directory import Directory
from modelledger.ledger.home import Ledger
from modelledger.releases.environments import set_policy


class SignatureNeeded(MledgerError):
    """HTTP 409 carrying ``statement``: sign it and send the request again."""

    def __init__(self, statement: dict[str, Any]) -> None:
        self.statement = statement
        super().__init__(
            "sign 'statement' with your key (as releases.signatures does) and send the same "
            "request again with it as 'signed'"
        )


class RemoteKey:
    """A private key's stand-in holding a public key and, maybe, a signature made elsewhere."""

    def __init__(self, public: str, sig: str | None) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        self._text = public
        self._public = Ed25519PublicKey.from_public_bytes(
            bytes.fromhex(public.removeprefix(signing.KEY_PREFIX))
        )
        self._sig = sig

    def public_key(self) -> Any:
        return self._public

    def sign(self, data: bytes) -> bytes:
        statement = json.loads(data)
        if self._sig is not None and signing.signature_ok(self._text, statement, self._sig):
            return bytes.fromhex(self._sig)
        raise SignatureNeeded(statement)


def remote_key(d: Directory, principal: str, public: str, sig: str | None) -> RemoteKey:
    """``public`` must be an active key of ``principal`` (the token's)."""
    who = d.signer(public)
    if who is None or who.name != principal:
        raise NotAllowed(f"that key is no active key of {principal}")
    try:
        return RemoteKey(public, sig)
    except ValueError:
        raise NotAllowed(f"that key is no active key of {principal}") from None


def put_policy(
    view: Ledger, env: str, policy: dict[str, Any], key: RemoteKey, folder: Path
) -> dict[str, Any]:
    """Set ``env``'s policy as ``view.user``, signed through ``key``."""
    path = folder / "policy.json"
    path.write_text(json.dumps(policy), encoding="utf-8")
    return set_policy(view, env, path, key)
