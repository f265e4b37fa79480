"""Materialising a snapshot into a folder, verifying every file's hash on the way out: the tree
listing against the snapshot's tree hash (``BlobStore.get_tree``), then each file's bytes
against its entry's hash and size."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from modelledger.blobs.store import CHUNK
from modelledger.blobs.tree import Tree, TreeEntry
from modelledger.core.errors import CheckFailed, InvalidInput
from modelledger.data.manifest import Snapshot
from modelledger.data.snapshot import get_snapshot
from modelledger.ledger import tombstones
from modelledger.ledger.home import Ledger


@dataclass(frozen=True)
class CheckoutResult:
    snapshot_id: str
    directory: Path
    files: int
    bytes: int


class BlobSource(Protocol):
    """Where blobs are read from: a ``BlobStore``, or the registry server (``RemoteBlobs``)."""

    def open(self, sha256: str) -> IO[bytes]: ...


def checkout(
    ledger: Ledger,
    ref: str,
    directory: Path,
    force: bool = False,
    on_bytes: Callable[[int], None] | None = None,
) -> CheckoutResult:
    prepare_folder(directory, force)
    snap = get_snapshot(ledger, ref)
    label = f"{snap.id} ({snap.name})"
    tombstones.refuse_erased(ledger, snap.id, label)
    tombstones.require_bytes(ledger, snap.id, label, snap.tree_sha256)
    tree = ledger.blobs.get_tree(snap.tree_sha256)  # checked against its hash
    return write_checked(ledger.blobs, snap, tree, directory, on_bytes)


def prepare_folder(directory: Path, force: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"{directory}: is a file, not a folder to check out into")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise InvalidInput(
            f"{directory}: folder is not empty; choose an empty one or pass --force to overwrite "
            "the snapshot's files in it"
        )


def write_checked(
    blobs: BlobSource,
    snap: Snapshot,
    tree: Tree,
    directory: Path,
    on_bytes: Callable[[int], None] | None = None,
) -> CheckoutResult:
    """The snapshot's files (``tree``, already checked against its hash) under ``directory``,
    once the listing is seen to agree with the record."""
    if (len(tree.entries), tree.size) != (snap.file_count, snap.size):
        raise CheckFailed(
            f"{snap.id}: the record says {snap.file_count} files, {snap.size:,} bytes; its tree "
            f"lists {len(tree.entries)} files, {tree.size:,} bytes. Nothing was written"
        )
    write_tree(blobs, tree, directory, on_bytes)
    return CheckoutResult(snap.id, directory, len(tree.entries), tree.size)


def copy_verified(
    blobs: BlobSource, sha256: str, target: Path, what: str, size: int | None = None
) -> None:
    """Write the blob to ``target`` (atomically), hashing on the way; a corrupt blob, or one of
    another ``size`` than the listing says, writes nothing."""
    tmp = target.with_name(f".{target.name}.mledger-tmp")
    h, written = hashlib.sha256(), 0
    try:
        with blobs.open(sha256) as src, open(tmp, "wb") as out:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
                written += len(chunk)
        if h.hexdigest() != sha256:
            raise CheckFailed(
                f"blob sha256:{sha256} for {what} is corrupt in the store "
                "(its bytes no longer match their hash); nothing was written for it"
            )
        if size is not None and written != size:
            raise CheckFailed(
                f"{what}: the listing says {size:,} bytes but sha256:{sha256} holds {written:,}; "
                "nothing was written for it"
            )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)


def write_tree(
    blobs: BlobSource, tree: Tree, directory: Path, on_bytes: Callable[[int], None] | None = None
) -> None:
    """Every file of the tree under ``directory``, each verified against its hash."""
    directory.mkdir(parents=True, exist_ok=True)
    root = directory.resolve()
    advance = on_bytes or (lambda n: None)

    def write(entry: TreeEntry) -> None:
        target = (root / entry.path).resolve()
        if not target.is_relative_to(root):  # Tree.of refuses such paths; belt and braces
            raise InvalidInput(f"{entry.path}: escapes the checkout folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_verified(blobs, entry.sha256, target, entry.path, entry.size)
        os.chmod(target, entry.mode)
        advance(entry.size)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, tree.entries))
