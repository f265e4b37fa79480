"""The model version: the reproducible tuple that is its identity, and what is recorded beside it."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from modelledger.core import ids
from modelledger.core.canonical import canonical_value
from modelledger.core.errors import InvalidInput

DATA_ROLES = ("train", "val", "test", "finetune", "eval")
TRAINING_ROLES = ("train", "finetune")  # the roles whose data a version learnt from
# An external checkpoint pinned by revision and content hash, never a floating name.
_EXTERNAL_BASE = re.compile(r"^[^@#\s]+@[^@#\s]+#(sha256:)?[0-9a-f]{64}$")


@dataclass(frozen=True)
class ArtifactRef:
    kind: Literal["blob", "tree"]
    sha256: str
    size: int

    def identity(self) -> dict[str, Any]:
        # size follows from the hash, so it is recorded but not part of identity
        return {"kind": self.kind, "sha256": self.sha256}


@dataclass(frozen=True)
class CodeRef:
    """Where the training code came from: a git commit (maybe dirty) or a reference the user gave."""

    kind: Literal["git", "ref"]
    repo: str | None = None
    commit: str | None = None
    dirty: bool = False
    diff_sha256: str | None = None
    ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.kind == "ref":
            return {"kind": "ref", "ref": self.ref}
        return {
            "kind": "git",
            "repo": self.repo,
            "commit": self.commit,
            "dirty": self.dirty,
            "diff_sha256": self.diff_sha256,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> CodeRef | None:
        if data is None:
            return None
        if data["kind"] == "ref":
            return cls(kind="ref", ref=data["ref"])
        return cls(
            kind="git",
            repo=data.get("repo"),
            commit=data.get("commit"),
            dirty=bool(data.get("dirty")),
            diff_sha256=data.get("diff_sha256"),
        )


@dataclass(frozen=True, order=True)
class DataRef:
    snapshot_id: str
    role: str = "train"

    @classmethod
    def parse(cls, text: str) -> DataRef:
        """``ds-…`` or ``ds-…:role``."""
        snapshot, _, role = text.partition(":")
        role = role or "train"
        if role not in DATA_ROLES:
            raise InvalidInput(f"--data {text!r}: role must be one of {', '.join(DATA_ROLES)}")
        if not snapshot.startswith("ds-"):
            raise InvalidInput(f"--data {text!r}: expected a snapshot id ds-…")
        return cls(snapshot, role)


def validate_base_model(text: str) -> str:
    if ids.is_id(text, ids.MODEL_VERSION) or _EXTERNAL_BASE.match(text):
        return text
    raise InvalidInput(
        f"--base-model {text!r}: pin it as a version (mv-… or NAME@N) or as an external checkpoint "
        "name@revision#sha256 — a floating name like 'latest' is not reproducible"
    )


@dataclass(frozen=True)
class VersionTuple:
    """Every field that makes a version what it is. Same tuple ⇒ same ``mv-`` id."""

    name: str
    artifact: ArtifactRef
    code: CodeRef | None = None
    data: tuple[DataRef, ...] = ()
    lock_sha256: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    preprocessing: str | None = None
    base_model: str | None = None
    parent: str | None = None

    def identity(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "name": self.name,
            "artifact": self.artifact.identity(),
            "code": self.code.to_json() if self.code else None,
            "data": [{"id": d.snapshot_id, "role": d.role} for d in sorted(set(self.data))],
            "lock_sha256": self.lock_sha256,
            "params": canonical_value(self.params),
            "seed": self.seed,
            "preprocessing": self.preprocessing,
            "base_model": self.base_model,
            "parent": self.parent,
        }

    @functools.cached_property
    def id(self) -> str:
        # cached: the tuple is immutable, and hashing it is a tenth of a registration's time
        return ids.make_id(ids.MODEL_VERSION, self.identity())

    def to_json(self) -> dict[str, Any]:
        out = self.identity()
        out["artifact"]["size"] = self.artifact.size
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VersionTuple:
        art = data["artifact"]
        return cls(
            name=data["name"],
            artifact=ArtifactRef(art["kind"], art["sha256"], int(art.get("size", 0))),
            code=CodeRef.from_json(data.get("code")),
            data=tuple(DataRef(d["id"], d["role"]) for d in data.get("data", [])),
            lock_sha256=data.get("lock_sha256"),
            params=dict(data.get("params") or {}),
            seed=data.get("seed"),
            preprocessing=data.get("preprocessing"),
            base_model=data.get("base_model"),
            parent=data.get("parent"),
        )


@dataclass(frozen=True)
class Reproducibility:
    status: Literal["reproducible", "not reproducible", "irreproducible"]
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class ModelVersion:
    id: str
    number: int
    tuple: VersionTuple
    created_at: datetime
    registered_by: str
    manifest: dict[str, Any] = field(default_factory=dict)
    loader: str | None = None
    irreproducible_reason: str | None = None

    @classmethod
    def from_record(cls, row: Mapping[Any, Any]) -> ModelVersion:
        """From a stored ``model_versions`` row (column name → value)."""
        from modelledger.core.clock import parse_time

        return cls(
            id=row["id"],
            number=row["number"],
            tuple=VersionTuple.from_json(json.loads(row["tuple_json"])),
            created_at=parse_time(row["created_at"]),
            registered_by=row["registered_by"],
            manifest=json.loads(row["manifest_json"]),
            loader=row["loader"],
            irreproducible_reason=row["irreproducible_reason"],
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelVersion:
        """From ``to_json``'s form (a registry server's answer)."""
        from modelledger.core.clock import parse_time

        return cls(
            id=data["id"],
            number=data["number"],
            tuple=VersionTuple.from_json(data["tuple"]),
            created_at=parse_time(data["created_at"]),
            registered_by=data["registered_by"],
            manifest=dict(data["manifest"]),
            loader=data["loader"],
            irreproducible_reason=data["irreproducible_reason"],
        )

    @property
    def name(self) -> str:
        return self.tuple.name

    @property
    def label(self) -> str:
        return f"{self.name}@{self.number}"

    @property
    def dirty(self) -> bool:
        return bool(self.tuple.code and self.tuple.code.dirty)

    @property
    def reproducibility(self) -> Reproducibility:
        return assess_reproducibility(self.tuple, self.irreproducible_reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "number": self.number,
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "registered_by": self.registered_by,
            "loader": self.loader,
            "dirty": self.dirty,
            "reproducibility": self.reproducibility.to_json(),
            "irreproducible_reason": self.irreproducible_reason,
            "tuple": self.tuple.to_json(),
            "manifest": self.manifest,
        }


def assess_reproducibility(
    tuple_: VersionTuple, irreproducible_reason: str | None
) -> Reproducibility:
    """Declared-irreproducible wins; otherwise list what is missing to rebuild the artifact."""
    if irreproducible_reason is not None:
        return Reproducibility("irreproducible", (irreproducible_reason,))
    reasons = []
    if tuple_.code is None:
        reasons.append("no code reference (not a git repository and no --code-ref)")
    elif tuple_.code.dirty:
        reasons.append("trained from a dirty working tree")
    if tuple_.lock_sha256 is None:
        reasons.append("no dependency lock")
    if reasons:
        return Reproducibility("not reproducible", tuple(reasons))
    return Reproducibility("reproducible")


def id_from_record(tuple_json: str) -> str:
    """The id a stored tuple gives (``audit verify``): the artifact's size is recorded in the
    tuple but follows from its hash, so it is no part of the identity."""
    record = json.loads(tuple_json)
    record["artifact"].pop("size", None)
    return ids.make_id(ids.MODEL_VERSION, record)


def retrain_flags(
    version_id: str, erasures: list[tuple[str, str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The erasures that flag a version for retraining (trained on, or descended from a version
    trained on, data since erased): (snapshot, when, payload) each."""
    return [
        {"snapshot": subject, "erased_at": at, "basis": payload.get("basis")}
        for subject, at, payload in erasures
        if version_id in payload.get("retrain", [])
    ]


def reproduction_of(tried: list[tuple[int, str, dict[str, Any]]]) -> dict[str, Any] | None:
    """The newest ``mledger reproduce`` of a version, as ``model show`` tells it: (seq, at,
    payload) of its events, newest last."""
    if not tried:
        return None
    seq, at, payload = tried[-1]
    return {
        "outcome": payload.get("outcome"),
        "at": at,
        "event": seq,
        "missing": payload.get("missing") or [],
        "error": payload.get("error"),
    }
