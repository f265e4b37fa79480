"""Snapshots through the registry server (``MLEDGER_URL``): the files are hashed here, the
server is asked which of them it lacks, only those are sent (each re-hashed by the server),
then their listing; the server records the snapshot as the token's principal. Reading back,
every listing and file is checked here against the hashes the record names: what the server
answers is not trusted more than a local store is.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from modelledger.blobs.ingest import SourceFile, scan
from modelledger.blobs.tree import Tree, TreeEntry
from modelledger.core.errors import CheckFailed, InvalidInput
from modelledger.data.checkout import CheckoutResult, prepare_folder, write_checked
from modelledger.data.manifest import Snapshot, snapshot_id
from modelledger.data.snapshot import (
    Progress,
    SnapshotRequest,
    SnapshotResult,
    check_request,
    code_record,
)
from modelledger.data.transform import Transform
from modelledger.remote.blobs import RemoteBlobs
from modelledger.remote.session import Remote, route

_HASHERS = 4


def snapshot_remote(
    remote: Remote, req: SnapshotRequest, progress: Progress | None = None
) -> SnapshotResult:
    params = check_request(req)  # (--from is resolved by the server, before it records anything)
    blobs = RemoteBlobs(remote)
    code = code_record(req.code, blobs.ensure_file, None) if req.code else None
    tree = send_tree(blobs, req.paths, progress)
    body: dict[str, Any] = {
        "name": req.name,
        "tree": tree.sha256,
        "card": req.card,
        "inputs": req.inputs,
        "step": req.step,
        "code": code,
        "params": params,
    }
    answer = remote.post("/snapshots", {k: v for k, v in body.items() if v not in (None, [], {})})
    return result_of(answer, tree.sha256)


def send_tree(blobs: RemoteBlobs, paths: list[Path], progress: Progress | None = None) -> Tree:
    """Hash the files here, send those the server lacks and then their listing: the tree."""
    progress = progress or Progress()
    files = scan(paths)
    total = sum(f.key.size for f in files)
    progress.total(total)
    tree = Tree.of(_hashed(files, progress))
    by_sha = {e.sha256: path for e, path in zip(tree.entries, _paths(files, tree), strict=True)}
    lacking = blobs.missing([*by_sha, tree.sha256])
    sending = {sha: by_sha[sha] for sha in lacking if sha in by_sha}
    progress.total(total + sum(os.stat(p).st_size for p in sending.values()))
    blobs.put_files(sending, progress.advance)
    if tree.sha256 in lacking:
        blobs.put_bytes(tree.canonical())
    return tree


def result_of(answer: dict[str, Any], tree_sha256: str) -> SnapshotResult:
    """The server's answer, checked: the snapshot it recorded is the one these bytes make."""
    fields = {k: answer[k] for k in Snapshot.__dataclass_fields__}
    snap = Snapshot(**fields)
    if snap.tree_sha256 != tree_sha256 or snap.id != snapshot_id(tree_sha256):
        raise CheckFailed(
            f"the server recorded {snap.id} (tree sha256:{snap.tree_sha256}) for the tree "
            f"sha256:{tree_sha256} sent: not the snapshot these files make"
        )
    tf = answer.get("transform")
    transform = None
    if tf is not None:
        transform = Transform.of(snap.id, tf["inputs"], tf["step"], tf["code"], tf["params"])
        if transform.id != tf["id"]:
            raise CheckFailed(f"the server's transform {tf['id']} does not hash to its record")
    return SnapshotResult(
        snap,
        bool(answer["created"]),
        transform,
        answer.get("card_revision"),
        list(answer.get("erased_again") or []),
    )


def show_remote(remote: Remote, ref: str) -> dict[str, Any]:
    found: dict[str, Any] = remote.get(route("snapshots", ref))
    return found


def checkout_remote(
    remote: Remote,
    ref: str,
    directory: Path,
    force: bool = False,
    on_bytes: Any = None,
) -> CheckoutResult:
    prepare_folder(directory, force)
    shown = show_remote(remote, ref)
    snap = Snapshot(**{k: shown[k] for k in Snapshot.__dataclass_fields__})
    if snap.id != snapshot_id(snap.tree_sha256):
        raise CheckFailed(f"{snap.id}: not the id of its tree sha256:{snap.tree_sha256}")
    blobs = RemoteBlobs(remote)
    tree = blobs.get_tree(snap.tree_sha256)  # checked against its hash
    return write_checked(blobs, snap, tree, directory, on_bytes)


def _hashed(files: list[SourceFile], progress: Progress) -> list[TreeEntry]:
    def one(f: SourceFile) -> TreeEntry:
        h = hashlib.sha256()
        size = 0
        with open(f.key.path, "rb") as src:
            while chunk := src.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
                progress.advance(len(chunk))
        if size != f.key.size:
            raise InvalidInput(
                f"{f.key.path}: changed while being snapshotted; nothing was recorded. "
                "Snapshot it again once it has stopped changing"
            )
        return TreeEntry(f.rel, h.hexdigest(), size, f.mode)

    with ThreadPoolExecutor(_HASHERS) as pool:
        return list(pool.map(one, files))


def _paths(files: list[SourceFile], tree: Tree) -> list[Path]:
    by_rel = {f.rel: Path(f.key.path) for f in files}
    return [by_rel[e.path] for e in tree.entries]
