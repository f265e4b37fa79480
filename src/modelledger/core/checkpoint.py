"""Signed checkpoints: a statement of the event log's head, signed with the ledger's Ed25519 key.

A checkpoint says "the ledger whose first event has hash F held N events, whose RFC 6962 root is
R and whose last event has hash H, at time T", and carries the public key that signed it. Kept
outside the database, checkpoints turn "the chain is intact" into "the chain is an extension of
what it was": a truncated, rewritten or recomputed log no longer reaches an earlier root.

Standard library and ``cryptography`` only: ``python -m modelledger.verify`` uses this module.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

FORMAT = "mledger-checkpoint/1"
KEY_PREFIX = "ed25519:"


class CheckpointError(Exception):
    """A checkpoint that is malformed or whose signature does not verify."""


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Checkpoint:
    ledger: str  # the first event's hash
    size: int
    root: str  # hex
    head: str  # the last event's hash
    at: str
    key: str  # "ed25519:<hex public key>"

    def statement(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "ledger": self.ledger,
            "size": self.size,
            "root": self.root,
            "head": self.head,
            "at": self.at,
            "key": self.key,
        }

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


def fingerprint(key: str) -> str:
    """A short name for a public key that people can compare: sha256 of the raw key, 16 hex."""
    raw = bytes.fromhex(key.removeprefix(KEY_PREFIX))
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_text(private_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return KEY_PREFIX + bytes(raw).hex()


def sign(checkpoint: Checkpoint, private_key: Any) -> dict[str, Any]:
    """The checkpoint document: the statement and its signature."""
    if public_key_text(private_key) != checkpoint.key:
        raise CheckpointError("the checkpoint names another key than the one signing it")
    signature = private_key.sign(_canonical(checkpoint.statement()))
    return {"checkpoint": checkpoint.statement(), "signature": signature.hex()}


def read(document: Any) -> Checkpoint:
    """The checkpoint, once its signature verifies under the key it names. Whether that key is
    the ledger's is the caller's question (compare ``fingerprint``)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        statement = document["checkpoint"]
        signature = bytes.fromhex(document["signature"])
        if statement.get("format") != FORMAT:
            raise CheckpointError(f"not a {FORMAT} document")
        found = Checkpoint(
            ledger=str(statement["ledger"]),
            size=int(statement["size"]),
            root=str(statement["root"]),
            head=str(statement["head"]),
            at=str(statement["at"]),
            key=str(statement["key"]),
        )
        if found.statement() != statement or not found.key.startswith(KEY_PREFIX):
            raise CheckpointError("the statement holds fields a checkpoint does not have")
        public = Ed25519PublicKey.from_public_bytes(
            bytes.fromhex(found.key.removeprefix(KEY_PREFIX))
        )
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"not a checkpoint: {exc}") from None
    try:
        public.verify(signature, _canonical(statement))
    except InvalidSignature:
        raise CheckpointError("the signature does not verify: the checkpoint was altered") from None
    return found
