"""Directory artifacts as trees: a sorted list of (path, sha256, size, mode)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modelledger.core.canonical import sha256_hex
from modelledger.core.errors import CheckFailed, InvalidInput


@dataclass(frozen=True, order=True)
class TreeEntry:
    path: str  # POSIX, relative, no '..'
    sha256: str
    size: int
    mode: int  # 0o644 or 0o755: only the executable bit is kept


@dataclass(frozen=True)
class Tree:
    entries: tuple[TreeEntry, ...]

    @classmethod
    def of(cls, entries: Iterable[TreeEntry]) -> Tree:
        ordered = tuple(sorted(entries))
        seen = set()
        for e in ordered:
            if e.path in seen:
                raise InvalidInput(f"tree lists {e.path!r} twice")
            if e.path.startswith("/") or ".." in e.path.split("/"):
                raise InvalidInput(f"tree path {e.path!r} escapes the tree")
            seen.add(e.path)
        return cls(ordered)

    def to_json(self) -> dict[str, Any]:
        return {"entries": [[e.path, e.sha256, e.size, e.mode] for e in self.entries]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tree:
        return cls.of(TreeEntry(p, s, int(n), int(m)) for p, s, n, m in data["entries"])

    def canonical(self) -> bytes:
        return self._canonical

    @functools.cached_property
    def _canonical(self) -> bytes:
        """Equal to ``canonical_json(self.to_json())`` (property-tested), without its per-value
        walk: entries hold only strings and ints, and a 20,000-file tree is hashed on every
        re-snapshot. Cached: the tree is immutable."""
        return json.dumps(
            self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")

    @functools.cached_property
    def sha256(self) -> str:
        return sha256_hex(self._canonical)

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)


def parse_tree(sha256: str, data: bytes, where: str = "the store") -> Tree:
    """The tree listing named ``sha256`` from its bytes, checked against that hash first: a
    listing rewritten where it is kept would otherwise name other files than the ones recorded."""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise CheckFailed(
            f"tree sha256:{sha256} is corrupt in {where} (its bytes no longer match its "
            "hash); its listing was not used. Run `mledger fsck` to see what else is damaged"
        )
    try:
        return Tree.from_json(json.loads(data))
    except (ValueError, KeyError, TypeError, InvalidInput) as exc:
        raise CheckFailed(f"blob sha256:{sha256} is not a tree listing ({exc})") from None
