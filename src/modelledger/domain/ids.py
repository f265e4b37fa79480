"""Identifiers: ``<prefix>-<64 hex>`` for records, ``sha256:<64 hex>`` for blobs."""

from __future__ import annotations

import re
from typing import Any

from modelledger.domain.canonical import digest
from modelledger.domain.errors import InvalidInput

MODEL_VERSION = "mv"
SNAPSHOT = "ds"
TRANSFORM = "tf"
EVAL_RESULT = "ev"
SYSTEM = "sys"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^(mv|ds|tf|ev|sys)-[0-9a-f]{64}$")


def make_id(prefix: str, value: Any) -> str:
    return f"{prefix}-{digest(value)}"


def is_id(text: str, prefix: str | None = None) -> bool:
    if not _ID.match(text):
        return False
    return prefix is None or text.startswith(prefix + "-")


def is_sha256(text: str) -> bool:
    return bool(_HEX64.match(text))


def blob_ref(sha256: str) -> str:
    return f"sha256:{sha256}"


def parse_blob_ref(text: str) -> str:
    hexpart = text.removeprefix("sha256:")
    if not is_sha256(hexpart):
        raise InvalidInput(f"not a sha256 reference: {text!r}")
    return hexpart


def short(id_: str, length: int = 12) -> str:
    """A display form: prefix plus the first ``length`` hex digits."""
    prefix, _, hexpart = id_.partition("-")
    return f"{prefix}-{hexpart[:length]}" if hexpart else id_[:length]
