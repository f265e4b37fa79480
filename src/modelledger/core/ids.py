"""Identifiers: ``<prefix>-<64 hex>`` for records, ``sha256:<64 hex>`` for blobs."""

from __future__ import annotations

import re
from typing import Any

from modelledger.core.canonical import digest

MODEL_VERSION = "mv"
SNAPSHOT = "ds"

_ID = re.compile(r"^(mv|ds|tf|ev|sys)-[0-9a-f]{64}$")


def make_id(prefix: str, value: Any) -> str:
    return f"{prefix}-{digest(value)}"


def is_id(text: str, prefix: str | None = None) -> bool:
    if not _ID.fullmatch(text):
        return False
    return prefix is None or text.startswith(prefix + "-")


def blob_ref(sha256: str) -> str:
    return f"sha256:{sha256}"


def short(id_: str, length: int = 12) -> str:
    """A display form: prefix plus the first ``length`` hex digits."""
    prefix, _, hexpart = id_.partition("-")
    return f"{prefix}-{hexpart[:length]}" if hexpart else id_[:length]
