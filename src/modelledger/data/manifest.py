"""Dataset snapshots: a named, immutable tree whose id is the hash of its manifest."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from modelledger.core import ids


def snapshot_id(tree_sha256: str) -> str:
    """Identity depends only on the bytes and relative paths: the tree, not the name or the time."""
    return ids.make_id(ids.SNAPSHOT, {"schema": 1, "tree": tree_sha256})


@dataclass(frozen=True)
class Snapshot:
    id: str
    name: str
    tree_sha256: str
    size: int
    file_count: int
    created_at: str
    created_by: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
