"""Dataset snapshots: store a file or folder, name it, record it. (Diffs, lineage and cards build
on this in later work.)"""

from __future__ import annotations

import os
from pathlib import Path

from modelledger.domain.errors import InvalidInput
from modelledger.domain.names import validate_name
from modelledger.domain.snapshot import Snapshot, snapshot_id
from modelledger.domain.tree import Tree, TreeEntry
from modelledger.services.ledger import Ledger, now
from modelledger.services.resolve import resolve_snapshot
from modelledger.store import events, snapshots


def snapshot(ledger: Ledger, paths: list[Path], name: str) -> tuple[Snapshot, bool]:
    """Snapshot files/folders; a single folder's contents sit at the tree root, files by name."""
    validate_name(name, "dataset name")
    if not paths:
        raise InvalidInput("give at least one file or folder to snapshot")
    for p in paths:
        if not p.exists():
            raise InvalidInput(f"{p}: no such file or directory")
    blobs = ledger.blobs
    if len(paths) == 1 and paths[0].is_dir():
        tree, _ = blobs.put_dir(paths[0])
    else:
        entries: list[TreeEntry] = []
        for p in paths:
            if p.is_dir():
                sub, _ = blobs.put_dir(p)
                entries.extend(
                    TreeEntry(f"{p.name}/{e.path}", e.sha256, e.size, e.mode) for e in sub.entries
                )
            else:
                info = blobs.put_file(p)
                mode = 0o755 if os.access(p, os.X_OK) else 0o644
                entries.append(TreeEntry(p.name, info.sha256, info.size, mode))
        tree = Tree.of(entries)
        blobs.put_bytes(tree.canonical())
    snap_id = snapshot_id(tree.sha256)
    with ledger.db.write() as conn:
        found = snapshots.get(conn, snap_id)
        if found is not None:
            return found, False
        snap = Snapshot(
            id=snap_id,
            name=name,
            tree_sha256=tree.sha256,
            size=tree.size,
            file_count=len(tree.entries),
            created_at=now(),
            created_by=ledger.user,
        )
        snapshots.insert_snapshot(conn, snap)
        events.append(
            conn,
            "data.snapshot",
            snap.id,
            ledger.user,
            snap.created_at,
            {"id": snap.id, "name": name, "tree": tree.sha256, "files": snap.file_count},
        )
    return snap, True


def get_snapshot(ledger: Ledger, ref: str) -> Snapshot:
    with ledger.db.read() as conn:
        found = snapshots.get(conn, resolve_snapshot(conn, ref))
    assert found is not None
    return found


def list_snapshots(ledger: Ledger, name: str | None = None) -> list[Snapshot]:
    with ledger.db.read() as conn:
        return snapshots.listing(conn, name)
