"""Dataset snapshots: store files and folders content-addressed, record the snapshot, and, when
asked, the transformation that produced it and its dataset card.

Every input is checked, and every byte hashed and staged, before anything becomes visible; the
blobs are committed just before the one transaction that records the snapshot, transform, card
and their events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelledger.blobs.ingest import Ingest, scan
from modelledger.blobs.tree import Tree
from modelledger.core.canonical import canonical_json
from modelledger.core.errors import InvalidInput
from modelledger.core.names import validate_name
from modelledger.core.params import merge_params
from modelledger.data.manifest import Snapshot, snapshot_id
from modelledger.data.transform import Transform
from modelledger.ledger.home import Ledger, now

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# The store modules (and SQLAlchemy with them) are imported where used: re-snapshotting an
# unchanged tree is answered without them (see Ledger.quick).


@dataclass
class SnapshotRequest:
    paths: list[Path]
    name: str
    card: dict[str, Any] | None = None
    inputs: list[str] = field(default_factory=list)  # --from: snapshots this one was derived from
    step: str | None = None
    code: str | None = None  # a file (hashed, with its git state) or a free-form reference
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SnapshotResult:
    snapshot: Snapshot
    created: bool  # False: these bytes were snapshotted before, and this is that snapshot
    transform: Transform | None = None
    card_revision: int | None = None  # set when this call added a card revision
    erased_again: list[dict[str, Any]] = field(default_factory=list)  # erased bytes it holds

    def to_json(self) -> dict[str, Any]:
        return {
            **self.snapshot.to_json(),
            "created": self.created,
            "transform": self.transform.to_json() if self.transform else None,
            "card_revision": self.card_revision,
            "erased_again": self.erased_again,
        }


@dataclass(frozen=True)
class Progress:
    """Callbacks for a progress display: the total once known, then bytes as they are done."""

    total: Callable[[int], None] = lambda n: None
    advance: Callable[[int], None] = lambda n: None


def snapshot(
    ledger: Ledger, req: SnapshotRequest, progress: Progress | None = None
) -> SnapshotResult:
    inputs, params = checked(ledger, req)
    code = None
    if req.code:
        code = code_record(req.code, lambda p: ledger.blobs.put_file(p).sha256, ledger.config.home)
    progress = progress or Progress()
    files = scan(req.paths)
    progress.total(sum(f.key.size for f in files))
    cache = ledger.hash_cache()
    ingest = Ingest(ledger.blobs, cache, on_bytes=progress.advance)
    try:
        tree = Tree.of(ingest.run(files))
        card, tf = _described(req, tree, inputs, code, params)
        with ledger.blobs.one_sync():  # the files and their listing: durable together
            ingest.commit()
            if not ledger.blobs.has(tree.sha256):
                ledger.blobs.put_bytes(tree.canonical())
    finally:
        ingest.discard()
        if cache is not None:
            cache.close()
    return _recorded(ledger, req.name, tree, tf, card)


def snapshot_stored(
    ledger: Ledger, req: SnapshotRequest, tree_sha256: str, code: dict[str, Any] | None
) -> SnapshotResult:
    """A snapshot of files already in the store, listed by the stored tree ``tree_sha256``
    (what the registry server records once a client has uploaded the files and their listing);
    ``code``: the record ``code_record`` made on the client."""
    inputs, params = checked(ledger, req)
    tree = ledger.blobs.get_tree(tree_sha256)  # checked against its hash
    lacking = ledger.blobs.missing(
        [e.sha256 for e in tree.entries] + ([code["sha256"]] if code and "sha256" in code else [])
    )
    if lacking:
        raise InvalidInput(
            f"{len(lacking):,} of the blobs tree sha256:{tree_sha256} names are not stored "
            f"(e.g. sha256:{min(lacking)}): upload them first; nothing was recorded"
        )
    card, tf = _described(req, tree, inputs, code, params)
    return _recorded(ledger, req.name, tree, tf, card)


def check_request(req: SnapshotRequest) -> dict[str, Any]:
    """The request's parameters, or the error saying what is wrong with the request as given."""
    validate_name(req.name, "dataset name")
    if req.inputs and not (req.step and req.step.strip()):
        raise InvalidInput("--from needs --step saying what was done, e.g. --step 'dedupe'")
    if (req.step or req.code or req.params) and not req.inputs:
        raise InvalidInput("--step, --code and --param describe a transformation: add --from ds-…")
    return merge_params({}, req.params)


def checked(ledger: Ledger, req: SnapshotRequest) -> tuple[list[str], dict[str, Any]]:
    """The request's input snapshots (resolved) and parameters, or the error saying what is
    wrong with it, before any byte is read."""
    params = check_request(req)
    if not req.inputs:
        return [], params
    from modelledger.data.resolve import resolve_snapshot

    with ledger.db.read() as conn:
        return sorted({resolve_snapshot(conn, ref) for ref in req.inputs}), params


def _described(
    req: SnapshotRequest,
    tree: Tree,
    inputs: list[str],
    code: dict[str, Any] | None,
    params: dict[str, Any],
) -> tuple[dict[str, Any] | None, Transform | None]:
    snap_id = snapshot_id(tree.sha256)
    card = None
    if req.card is not None:
        from modelledger.data.dataset_card import (
            validate_dataset_card,
        )  # pydantic: only with a card

        card = validate_dataset_card(req.card, snap_id, tree.sha256)
    tf = Transform.of(snap_id, inputs, req.step or "", code, params) if inputs else None
    return card, tf


def _recorded(
    ledger: Ledger, name: str, tree: Tree, tf: Transform | None, card: dict[str, Any] | None
) -> SnapshotResult:
    if tf is None and card is None:
        from modelledger.ledger.quick import erasures, snapshot_row

        sid = snapshot_id(tree.sha256)
        known = ledger.quick(lambda conn: (snapshot_row(conn, sid), erasures(conn)))
        if known is not None and known[0] is not None:
            again = erased_again(tree, known[1])
            return SnapshotResult(Snapshot(**known[0]), created=False, erased_again=again)
    from modelledger.ledger import tombstones

    with ledger.db.write() as conn:
        result = _record(ledger, conn, name, tree, tf, card)
        found = [(e["subject"], e["at"], e) for e in tombstones.erasures(conn)]
    return replace(result, erased_again=erased_again(tree, found))


def erased_again(
    tree: Tree, erasures: list[tuple[str, str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The erasures whose bytes this tree holds again (a pipeline that was not told): each
    erased snapshot, when, and how many of its erased objects are back."""
    if not erasures:
        return []
    held = {e.sha256 for e in tree.entries} | {tree.sha256}
    out = []
    for subject, at, payload in erasures:
        back = len(held.intersection(payload.get("blobs", [])))
        if back:
            out.append({"snapshot": subject, "erased_at": at, "objects": back})
    return out


def _record(
    ledger: Ledger,
    conn: Connection,
    name: str,
    tree: Tree,
    tf: Transform | None,
    card: dict[str, Any] | None,
) -> SnapshotResult:
    from modelledger.data.store import snapshots, transforms
    from modelledger.ledger import events

    at, user = now(), ledger.user
    snap = snapshots.get(conn, snapshot_id(tree.sha256))
    created = snap is None
    if snap is None:
        snap = Snapshot(
            id=snapshot_id(tree.sha256),
            name=name,
            tree_sha256=tree.sha256,
            size=tree.size,
            file_count=len(tree.entries),
            created_at=at,
            created_by=user,
        )
        snapshots.insert_snapshot(conn, snap)
        payload = {"id": snap.id, "name": name, "tree": tree.sha256, "files": snap.file_count}
        events.append(conn, "data.snapshot", snap.id, user, at, payload)
    if tf is not None and not transforms.exists(conn, tf.id):
        transforms.insert_transform(conn, tf, canonical_json(tf.record()).decode(), at, user)
        events.append(conn, "data.transform", snap.id, user, at, tf.to_json())
    revision = None
    if card is not None:
        revision = add_card(ledger, conn, snap.id, card, at)
    return SnapshotResult(snap, created, tf, revision)


def add_card(
    ledger: Ledger, conn: Connection, snapshot_id_: str, card: dict[str, Any], at: str
) -> int | None:
    """Append a card revision (and its event) unless the card says what the newest one says."""
    from modelledger.ledger import cards, events

    current = cards.latest(conn, "dataset", snapshot_id_)
    if current is not None and current[1] == card:
        return None
    revision = cards.add_revision(conn, "dataset", snapshot_id_, card, at, ledger.user)
    payload = {"revision": revision, "card": card}
    events.append(conn, "data.card", snapshot_id_, ledger.user, at, payload)
    return revision


def code_record(
    code: str, store: Callable[[Path], str], home: Path | None = None
) -> dict[str, Any]:
    """A code file is hashed and stored (``store`` returns its sha256) with
    the git state of its repository (``home``, the ledger's folder, is not code); anything else
    is kept as the reference the user gave (a commit, a URL, an image digest)."""
    path = Path(code)
    if not path.exists():
        return {"ref": code}
    if not path.is_file():
        raise InvalidInput(f"--code {code}: give a file (the script that ran) or a reference")
    from modelledger.capture.git import capture_git

    record: dict[str, Any] = {"file": path.name, "sha256": store(path)}
    state = capture_git(path.resolve().parent, exclude=[home] if home else [], full=False)
    if state is not None:
        record["git"] = {"repo": state.repo, "commit": state.commit, "dirty": state.dirty}
        record["file"] = path.resolve().relative_to(state.root).as_posix()
    return record


def get_snapshot(ledger: Ledger, ref: str) -> Snapshot:
    from modelledger.data.resolve import resolve_snapshot
    from modelledger.data.store import snapshots

    with ledger.db.read() as conn:
        found = snapshots.get(conn, resolve_snapshot(conn, ref))
    assert found is not None
    return found


def show(ledger: Ledger, ref: str) -> dict[str, Any]:
    """The snapshot with its files, current card and the transforms that produced it."""
    from modelledger.data.resolve import resolve_snapshot
    from modelledger.data.store import snapshots, transforms
    from modelledger.ledger import cards

    with ledger.db.read() as conn:
        snap = snapshots.get(conn, resolve_snapshot(conn, ref))
        assert snap is not None
        card = cards.latest(conn, "dataset", snap.id)
        made_by = transforms.producing(conn, [snap.id])
    from modelledger.core.errors import NotFound
    from modelledger.ledger import tombstones

    with ledger.db.read() as conn:
        erased = tombstones.erased(conn, snap.id)
    try:
        files = [
            {"path": e.path, "sha256": e.sha256, "size": e.size}
            for e in ledger.blobs.get_tree(snap.tree_sha256).entries
        ]
        collected = None
    except NotFound:  # the listing went with the files when gc collected them: the record stays
        with ledger.db.read() as conn:
            gone = tombstones.collected(conn, snap.id)
        if gone is None:
            raise
        files, collected = [], tombstones.note(gone)
    return {
        **snap.to_json(),
        "files": files,
        "collected": collected,
        "erased": None if erased is None else tombstones.note(erased),
        "card": {"revision": card[0], **card[1]} if card else None,
        "derived_by": [tf.to_json() for tf in made_by],
    }


def list_snapshots(ledger: Ledger, name: str | None = None) -> list[Snapshot]:
    from modelledger.data.store import snapshots

    with ledger.db.read() as conn:
        return snapshots.listing(conn, name)
