"""Materialising a snapshot into a folder, verifying every file's hash on the way out."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from modelledger.blobs.store import CHUNK
from modelledger.domain.errors import CheckFailed, InvalidInput
from modelledger.domain.tree import TreeEntry
from modelledger.services.ledger import Ledger
from modelledger.services.snapshot import get_snapshot


@dataclass(frozen=True)
class CheckoutResult:
    snapshot_id: str
    directory: Path
    files: int
    bytes: int


def checkout(
    ledger: Ledger,
    ref: str,
    directory: Path,
    force: bool = False,
    on_bytes: Callable[[int], None] | None = None,
) -> CheckoutResult:
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"{directory}: is a file, not a folder to check out into")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise InvalidInput(
            f"{directory}: folder is not empty; choose an empty one or pass --force to overwrite "
            "the snapshot's files in it"
        )
    snap = get_snapshot(ledger, ref)
    tree = ledger.blobs.get_tree(snap.tree_sha256)
    directory.mkdir(parents=True, exist_ok=True)
    root = directory.resolve()
    advance = on_bytes or (lambda n: None)

    def write(entry: TreeEntry) -> None:
        target = (root / entry.path).resolve()
        if not target.is_relative_to(root):  # Tree.of refuses such paths; belt and braces
            raise InvalidInput(f"{entry.path}: escapes the checkout folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.mledger-tmp")
        h = hashlib.sha256()
        with ledger.blobs.open(entry.sha256) as src, open(tmp, "wb") as out:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != entry.sha256:
            tmp.unlink()
            raise CheckFailed(
                f"blob sha256:{entry.sha256} for {entry.path} is corrupt in the store "
                "(its bytes no longer match their hash); nothing was written for it"
            )
        os.chmod(tmp, entry.mode)
        os.replace(tmp, target)
        advance(entry.size)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, tree.entries))
    return CheckoutResult(snap.id, directory, len(tree.entries), tree.size)
