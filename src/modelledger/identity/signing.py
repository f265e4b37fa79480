"""Signed statements: Ed25519 over the canonical JSON of what is being attested.

A statement names what it is about in full (its ``format``, the request or event it belongs to),
so a signature made for one statement never verifies another. Pure apart from ``cryptography``.
"""

from __future__ import annotations

from typing import Any

from modelledger.core.canonical import canonical_json
from modelledger.core.checkpoint import KEY_PREFIX, fingerprint, public_key_text

__all__ = ["KEY_PREFIX", "fingerprint", "public_key_text", "sign", "signature_ok"]


def sign(private_key: Any, statement: dict[str, Any]) -> dict[str, str]:
    """``{"key": "ed25519:<hex>", "sig": "<hex>"}`` for ``statement``."""
    return {
        "key": public_key_text(private_key),
        "sig": private_key.sign(canonical_json(statement)).hex(),
    }


def signature_ok(key: str, statement: dict[str, Any], sig: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key.removeprefix(KEY_PREFIX)))
        public.verify(bytes.fromhex(sig), canonical_json(statement))
    except (InvalidSignature, ValueError, TypeError, AttributeError):
        return False
    return key.startswith(KEY_PREFIX)
