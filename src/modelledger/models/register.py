"""Registering a model version: capture the tuple, store the bytes, append the record and its event.

Everything is checked before anything becomes visible: the artifact (a file, or a folder's files
and their tree) and the lock are staged (copied and hashed) and committed inside the transaction
that records the version, so a failure leaves nothing behind — except the diff of a dirty tree,
stored when the code is captured: unreferenced content-addressed bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, Unpack

from sqlalchemy.engine import Connection

from modelledger.blobs.ingest import Ingest, scan
from modelledger.blobs.store import BlobStore, Staged
from modelledger.blobs.tree import Tree
from modelledger.capture.hardware import capture_hardware
from modelledger.capture.lock import frozen_environment, read_lock_file
from modelledger.core import ids
from modelledger.core.clock import parse_time
from modelledger.core.errors import InvalidInput, MledgerError, NotFound
from modelledger.core.files import check_inputs
from modelledger.core.names import validate_name
from modelledger.core.params import merge_params
from modelledger.data.resolve import resolve_snapshot
from modelledger.data.store import snapshots
from modelledger.ledger import cards, events
from modelledger.ledger.home import Ledger, now
from modelledger.models import hooks as registration_hooks
from modelledger.models.card import validate_card
from modelledger.models.code import capture_code, untracked_reason
from modelledger.models.loader import parse_loader
from modelledger.models.resolve import LATEST, resolve_version
from modelledger.models.store import versions
from modelledger.models.version import (
    TRAINING_ROLES,
    ArtifactRef,
    CodeRef,
    DataRef,
    ModelVersion,
    VersionTuple,
    validate_base_model,
)


class RegisterOptions(TypedDict, total=False):
    """Everything a registration takes besides the name and the artifact, as keywords (the Python
    API's ``register_model(name, artifact, **options)``)."""

    data: Iterable[str | DataRef]  # snapshot ids, optionally with a role: ``ds-…:train``
    params: Mapping[str, Any]
    seed: int | None
    parent: str | None
    base_model: str | None
    lock: str | Path | None
    loader: str | None
    card: dict[str, Any] | None
    allow_dirty: bool
    irreproducible: str | None  # the reason, when the lineage is unknown
    code_ref: str | None
    code: CodeRef | None  # already captured (ml.run captures once per run)
    code_dir: Path | None  # where to look for git; the cwd by default
    preprocessing: str | None
    manifest: Mapping[str, Any]
    read_from: Iterable[str | Path]  # the card or params files: recorded by content, not code
    artifact_tree: str | None  # a tree already in the store: the artifact is then its name only


@dataclass
class RegisterRequest:
    """One registration, as the CLI and the Python API both hand it over (the fields are
    ``RegisterOptions``, normalised: paths as ``Path``, collections copied)."""

    name: str
    artifact: Path
    data: list[str | DataRef] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    parent: str | None = None
    base_model: str | None = None
    lock: Path | None = None
    loader: str | None = None
    card: dict[str, Any] | None = None
    allow_dirty: bool = False
    irreproducible: str | None = None
    code_ref: str | None = None
    code: CodeRef | None = None
    code_dir: Path | None = None
    preprocessing: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    read_from: list[Path] = field(default_factory=list)
    # a tree already in the store (uploaded to the registry server): ``artifact`` is its name only
    artifact_tree: str | None = None

    @classmethod
    def of(
        cls, name: str, artifact: str | Path, **options: Unpack[RegisterOptions]
    ) -> RegisterRequest:
        rest: dict[str, Any] = dict(options)
        lock = rest.pop("lock", None)
        return cls(
            name=name,
            artifact=Path(artifact),
            data=list(rest.pop("data", ())),
            params=dict(rest.pop("params", {})),
            manifest=dict(rest.pop("manifest", {})),
            read_from=[Path(f) for f in rest.pop("read_from", ())],
            lock=Path(lock) if lock is not None else None,
            **rest,
        )


@dataclass(frozen=True)
class RegisterResult:
    version: ModelVersion
    created: bool  # False: the same tuple was registered before, and this is that version
    warnings: tuple[str, ...] = ()
    # what installed hooks added, by hook key (e.g. drift's reference profile); None: nothing
    extras: Mapping[str, Any] = field(default_factory=dict)


def check_request(req: RegisterRequest) -> tuple[list[DataRef], dict[str, Any]]:
    validate_name(req.name)
    data = [d if isinstance(d, DataRef) else DataRef.parse(d) for d in req.data]
    params = merge_params({}, req.params)
    if req.seed is not None and (isinstance(req.seed, bool) or not isinstance(req.seed, int)):
        raise InvalidInput(f"--seed {req.seed!r}: expected an integer")
    if req.loader is not None:
        parse_loader(req.loader)
    if req.irreproducible is not None and not req.irreproducible.strip():
        raise InvalidInput("--irreproducible needs a --reason saying why the lineage is unknown")
    if req.base_model and req.base_model.endswith(f"@{LATEST}"):
        validate_base_model(req.base_model)  # refused before the tree is read: says how to pin
    if req.parent and req.parent.endswith(f"@{LATEST}"):
        raise InvalidInput(
            f"--parent {req.parent}: @latest floats — pin a version (NAME@N or its id)"
        )
    if req.artifact_tree is not None:
        return data, params
    check_inputs([req.artifact], "--artifact")  # a regular file, or a folder of them
    if req.artifact.is_file() and not os.access(req.artifact, os.R_OK):
        raise InvalidInput(f"--artifact {req.artifact}: permission denied")
    return data, params


def lock_of(req: RegisterRequest) -> bytes | None:
    """The dependency lock's bytes: the file given, else this interpreter's packages (none for
    an irreproducible version: today's packages say nothing of how it was made)."""
    lock = read_lock_file(req.lock) if req.lock else None
    if lock is None and req.irreproducible is None:
        lock = frozen_environment()
    return lock


def not_code(req: RegisterRequest) -> list[Path]:
    """Files of the registration that are not code: untracked, they leave the tree clean."""
    return [req.artifact, *([req.lock] if req.lock else []), *req.read_from]


def _code_for(ledger: Ledger, req: RegisterRequest) -> tuple[CodeRef | None, dict[str, Any]]:
    if req.code is not None:
        return req.code, {}
    if req.code_ref:
        return CodeRef(kind="ref", ref=req.code_ref), {}
    if req.irreproducible is not None:
        return None, {}  # today's checkout says nothing about how an old artifact was made
    return capture_code(ledger, req.code_dir or Path.cwd(), req.allow_dirty, not_code(req))


def _resolve_refs(
    conn: Connection, req: RegisterRequest, data: list[DataRef]
) -> tuple[str | None, str | None, list[DataRef]]:
    parent = resolve_version(conn, req.parent) if req.parent else None
    base = None
    if req.base_model:
        if "#" in req.base_model:
            base = validate_base_model(req.base_model)
        else:
            try:
                base = resolve_version(conn, req.base_model)
            except InvalidInput:
                base = validate_base_model(req.base_model)  # explains how to pin it
            except NotFound:
                # NAME@N names a version that is not there; NAME@latest is a floating name,
                # not an environment someone forgot to create
                if req.base_model.rpartition("@")[2].isdigit():
                    raise
                base = validate_base_model(req.base_model)
    # unique prefixes work as everywhere else; full ids are checked in one query
    data = [
        d if ids.is_id(d.snapshot_id) else DataRef(resolve_snapshot(conn, d.snapshot_id), d.role)
        for d in data
    ]
    wanted = sorted({d.snapshot_id for d in data})
    missing = set(wanted) - snapshots.existing(conn, wanted) if wanted else set()
    if missing:
        raise NotFound(f"--data: unknown snapshot(s) {', '.join(sorted(missing))}")
    return parent, base, data


@dataclass(frozen=True)
class _Context:
    """What a registration reads inside its transaction besides the artifact."""

    parent: str | None
    base: str | None
    data: list[DataRef]
    number: int  # the next version number of the name
    plans: tuple[Any, ...]  # each hook's own reading, in hook order


def _read_context(
    conn: Connection,
    req: RegisterRequest,
    data: list[DataRef],
    card: dict[str, Any] | None,
    hooks: Sequence[registration_hooks.RegistrationHook],
) -> _Context:
    parent, base, data = _resolve_refs(conn, req, data)
    return _Context(
        parent=parent,
        base=base,
        data=data,
        number=versions.next_number(conn, req.name),
        plans=tuple(hook.prepare(conn, data, card) for hook in hooks),
    )


def _stage_artifact(
    blobs: BlobStore, req: RegisterRequest, staged: list[Staged | Ingest]
) -> tuple[ArtifactRef, str]:
    """Stage the artifact's bytes (added to ``staged``): its reference, and where it was read
    from (symbolic links followed)."""
    path = req.artifact
    if req.artifact_tree is not None:
        tree = blobs.get_tree(req.artifact_tree)  # checked against its hash
        lacking = blobs.missing(e.sha256 for e in tree.entries)
        if lacking:
            raise InvalidInput(
                f"{len(lacking):,} of the files tree sha256:{req.artifact_tree} lists are not "
                f"stored (e.g. sha256:{min(lacking)}): upload them first; nothing was recorded"
            )
        return ArtifactRef("tree", tree.sha256, tree.size), f"upload:{path.name}"
    if path.is_dir():
        files = Ingest(blobs)
        staged.append(files)
        tree = Tree.of(files.run(scan([path])))
        staged.append(blobs.stage_bytes(tree.canonical()))
        return ArtifactRef("tree", tree.sha256, tree.size), str(path.resolve())
    blob = blobs.stage_file(path)
    staged.append(blob)
    assert blob.source is not None
    return ArtifactRef("blob", blob.info.sha256, blob.info.size), blob.source


def register(
    ledger: Ledger,
    req: RegisterRequest,
    hooks: Sequence[registration_hooks.RegistrationHook] | None = None,
) -> RegisterResult:
    """Register ``req`` (or find the version with the same tuple). ``hooks``: what else runs
    with a new version; by default the ones installed in this process."""
    hooks = registration_hooks.installed() if hooks is None else tuple(hooks)
    data, params = check_request(req)
    card = validate_card(req.card) if req.card is not None else None
    code, code_notes = _code_for(ledger, req)
    lock_bytes = lock_of(req)

    # Blobs are staged (copied and hashed, not yet visible) before the transaction takes the
    # ledger's write lock, and committed inside it, so a reference that fails to resolve leaves
    # nothing behind.
    blobs = ledger.blobs
    staged: list[Staged | Ingest] = []
    try:
        artifact, source = _stage_artifact(blobs, req, staged)
        lock_sha = None
        if lock_bytes:
            lock = blobs.stage_bytes(lock_bytes)
            staged.append(lock)
            lock_sha = lock.info.sha256
        with ledger.db.write() as conn:
            ctx = _read_context(conn, req, data, card, hooks)
            tuple_ = VersionTuple(
                name=req.name,
                artifact=artifact,
                code=code,
                data=tuple(sorted(set(ctx.data))),
                lock_sha256=lock_sha,
                params=params,
                seed=req.seed,
                preprocessing=req.preprocessing,
                base_model=ctx.base,
                parent=ctx.parent,
            )
            existing = versions.get(conn, tuple_.id)
            if existing is None:
                version = _insert(
                    ledger, conn, req, tuple_,
                    number=ctx.number, code_notes=code_notes, card=card, source=source,
                )  # fmt: skip
                at = now()
                done = [
                    hook.in_transaction(conn, version, plan, at, ledger.user)
                    for hook, plan in zip(hooks, ctx.plans, strict=True)
                ]
            for pending in staged:
                pending.commit()  # durable before the record naming it commits
    finally:
        for pending in staged:
            pending.discard()  # a no-op for what was committed
    if existing is not None:
        return RegisterResult(existing, created=False)
    warnings = leakage_warnings(ledger, ctx.data)
    extras: dict[str, Any] = {}
    for hook, plan, result in zip(hooks, ctx.plans, done, strict=True):
        if result is None:
            try:
                result = hook.after_commit(ledger, version, plan)
            except Exception as exc:  # the version is committed and stands without it
                reason = (
                    str(exc) if isinstance(exc, MledgerError) else f"{type(exc).__name__}: {exc}"
                )
                warnings.append(f"no {hook.label}: {reason}")
        extras[hook.key] = result
    return RegisterResult(version, created=True, warnings=tuple(warnings), extras=extras)


def leakage_warnings(ledger: Ledger, data: list[DataRef]) -> list[str]:
    """Held-out snapshots (eval, test, val) whose rows also appear in the training snapshots.
    A warning, not a refusal: the version records what happened either way."""
    train = sorted({d.snapshot_id for d in data if d.role in TRAINING_ROLES})
    held = sorted({(d.snapshot_id, d.role) for d in data if d.role in ("eval", "test", "val")})
    if not train or not held:
        return []
    from modelledger.data.leakage import leakage

    out = []
    for snapshot_id, role in held:
        try:
            found = leakage(ledger, snapshot_id, train, sample=0)
        except MledgerError:
            continue  # nothing tabular to compare, or no columns in common
        if found["leak"]:
            out.append(
                f"{role} snapshot {snapshot_id} overlaps the training data: "
                f"{found['overlapping_rows']:,} of {found['eval_rows']:,} rows also appear in "
                f"training (see `mledger data leakage --eval {snapshot_id} --train …`)"
            )
    return out


def _insert(
    ledger: Ledger,
    conn: Connection,
    req: RegisterRequest,
    tuple_: VersionTuple,
    *,
    number: int,
    code_notes: dict[str, Any],
    card: dict[str, Any] | None,
    source: str,
) -> ModelVersion:
    at = now()
    manifest = {
        "registered_at": at,
        "hardware": capture_hardware(),
        "artifact_source": source,
        **code_notes,
        **req.manifest,
    }
    version = ModelVersion(
        id=tuple_.id,
        number=number,
        tuple=tuple_,
        created_at=parse_time(at),
        registered_by=ledger.user,
        manifest=manifest,
        loader=req.loader,
        irreproducible_reason=req.irreproducible or untracked_reason(manifest),
    )
    versions.insert_version(conn, version, at)
    payload: dict[str, Any] = {
        "id": version.id,
        "name": version.name,
        "number": version.number,
        "artifact": ids.blob_ref(tuple_.artifact.sha256),
        "reproducibility": version.reproducibility.status,
    }
    events.append(conn, "model.registered", version.id, ledger.user, at, payload)
    if card is not None:
        cards.add_revision(conn, "model", version.id, card, at, ledger.user)
        events.append(
            conn, "model.card", version.id, ledger.user, at, {"revision": 1, "card": card}
        )
    return version
