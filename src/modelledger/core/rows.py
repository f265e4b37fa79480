"""Row digests: what binds a database row to the event that wrote it.

A row's digest is the sha256 of ``[table, value, …]`` as compact JSON, its values in the table's
column order and already normalised by column type (so that what was inserted and what either
database reads back give the same bytes). Rows are bound in groups (a version's parameters, an
import's feedback): a group's digest is the sha256 of its rows' digests in sorted order, so it
does not depend on the order rows were written or read in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

# allow_nan: a digest only needs to be deterministic; canonical JSON's rules are for identities
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=True
)


def row_digest(table: str, values: Sequence[Any]) -> bytes:
    return hashlib.sha256(_ENCODER.encode([table, *values]).encode("utf-8")).digest()


def group_digest(digests: Iterable[bytes]) -> str:
    return hashlib.sha256(b"".join(sorted(digests))).hexdigest()


def group_key(values: Sequence[Any]) -> str:
    """The group's name in an event: its key columns joined by '/', which no id or name holds."""
    return "/".join(str(v) for v in values)


def row_leaf(table: str, values: Sequence[Any]) -> bytes:
    """A row as a leaf of its batch's RFC 6962 tree (the inference log: one row can be proved)."""
    return hashlib.sha256(b"\x00" + _ENCODER.encode([table, *values]).encode("utf-8")).digest()


def table_digest(groups: Iterable[tuple[str, str]]) -> str:
    """One digest for many (group key, group digest) pairs: rows written before binding."""
    lines = sorted(f"{key}\t{digest}" for key, digest in groups)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
