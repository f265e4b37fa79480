"""Row digests: what binds a database row to the event that wrote it.

A row is written as Python writes the tuple of its values (``repr``: strings quoted and escaped,
shortest round-trip floats, ``None``), in the table's column order and normalised by column
type, so that what was inserted and what either database reads back give the same text. Rows
are bound in groups (a version's parameters, an import's feedback): a group's digest is the
sha256 of the table's name and its rows' texts in sorted order, so it does not depend on the
order rows were written or read in. No row's text holds a raw newline, which separates them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any


def row_text(values: Sequence[Any]) -> str:
    return repr(tuple(values))


def group_digest(table: str, texts: Iterable[str]) -> str:
    body = "\n".join([table, *sorted(texts)])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def group_key(values: Sequence[Any]) -> str:
    """The group's name in an event: its key columns joined by '/', which no id or name holds."""
    return "/".join(str(v) for v in values)


def row_leaf(table: str, values: Sequence[Any]) -> bytes:
    """A row as a leaf of its batch's RFC 6962 tree (the inference log: one row can be proved)."""
    return hashlib.sha256(b"\x00" + (table + row_text(values)).encode("utf-8")).digest()


def table_digest(groups: Iterable[tuple[str, str]]) -> str:
    """One digest for many (group key, group digest) pairs: rows written before binding."""
    lines = sorted(f"{key}\t{digest}" for key, digest in groups)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
