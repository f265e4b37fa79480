"""``POST /versions``: a version registered from an uploaded artifact, as the token's principal.

The body is either the artifact itself (``application/octet-stream``, the metadata in the
``metadata`` query parameter as JSON) or ``multipart/form-data`` with a ``metadata`` part (JSON),
an ``artifact`` part and optionally a ``lock`` part. It is spooled to a temporary folder and
registered through ``models.register`` like a local file; the folder is removed afterwards.

What the server cannot see it does not guess: the code (``code_ref``, or a clean git commit as
``code``) and the dependency lock (``lock``) come from the client, because the server's own
checkout and packages are no part of the client's version. Only an ``irreproducible`` version
(with its reason) goes without them.
"""

from __future__ import annotations

import json
import mmap
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelledger.core.errors import InvalidInput
from modelledger.ledger.home import Ledger
from modelledger.models.register import RegisterRequest, RegisterResult, register
from modelledger.models.version import CodeRef
from modelledger.server.multipart import BadBody, boundary_of, parts

MAX_METADATA = 1 << 20


SHA256 = "^[0-9a-f]{64}$"
# What the client's git capture notes in the run manifest (models.code.capture_code).
CODE_NOTES = ("git_root", "untracked_files", "untracked_not_stored")


class GitCode(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    kind: str = Field(pattern="^git$")
    repo: str = Field(min_length=1, max_length=2000)
    commit: str = Field(pattern="^[0-9a-f]{7,64}$")
    dirty: bool = False
    diff_sha256: str | None = Field(default=None, pattern=SHA256)  # sent first: PUT /blobs


class Metadata(BaseModel):
    """What a registration takes besides the artifact (as ``mledger model register``)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    data: list[str] = Field(default_factory=list, max_length=1000)
    seed: int | None = None
    parent: str | None = Field(default=None, max_length=300)
    base_model: str | None = Field(default=None, max_length=300)
    loader: str | None = Field(default=None, max_length=300)
    card: dict[str, Any] | None = None
    code_ref: str | None = Field(default=None, min_length=1, max_length=2000)
    code: GitCode | None = None
    preprocessing: str | None = Field(default=None, max_length=2000)
    irreproducible: str | None = Field(default=None, max_length=2000)
    lock: str | None = Field(default=None, max_length=16 << 20)  # the lock file's text
    hardware: dict[str, Any] | None = None  # where it was trained (the client's), if known
    filename: str | None = Field(default=None, max_length=300)  # the artifact's name there
    # a folder artifact: its files and listing sent first (PUT /blobs), no artifact part
    artifact_tree: str | None = Field(default=None, pattern=SHA256)
    code_notes: dict[str, Any] | None = None  # what the client's git capture noted


def metadata_of(text: str | bytes | None, name: str | None = None) -> Metadata:
    """The metadata, from its JSON text (and the ``name`` query parameter of a raw upload)."""
    try:
        raw = json.loads(text) if text else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"metadata: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise InvalidInput('metadata: a JSON object, e.g. {"name": "churn", …}')
    if name is not None:
        if raw.get("name", name) != name:
            raise InvalidInput("metadata: its name and the name parameter differ")
        raw["name"] = name
    try:
        return Metadata.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "metadata"
        raise InvalidInput(f"metadata.{where}: {first['msg']}") from None


@dataclass
class Spooled:
    """An upload on disk: the artifact (and lock) as files in a temporary folder."""

    folder: Path
    artifact: Path | None  # None: the metadata names a stored tree (artifact_tree)
    lock: Path | None
    metadata: bytes | None


async def spool(chunks: AsyncIterator[bytes], content_type: str, folder: Path) -> Spooled:
    """Write the body to ``folder``: a raw body is the artifact; a multipart one is split into
    its parts."""
    if content_type.lower().startswith("multipart/"):
        boundary = boundary_of(content_type)
        body = folder / "body"
        await _write(chunks, body)
        return _split(body, boundary, folder)
    artifact = folder / "artifact"
    await _write(chunks, artifact)
    return Spooled(folder, artifact, None, None)


async def _write(chunks: AsyncIterator[bytes], path: Path, buffer: int = 8 << 20) -> None:
    """The chunks into ``path``, gathered in memory up to ``buffer`` bytes between writes."""
    with path.open("wb") as out:
        held = bytearray()
        async for chunk in chunks:
            held += chunk
            if len(held) >= buffer:
                out.write(held)
                held.clear()
        out.write(held)


def _split(body: Path, boundary: bytes, folder: Path) -> Spooled:
    size = body.stat().st_size
    if size == 0:
        raise BadBody("the multipart body is empty")
    with body.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        found = {}
        for part in parts(data, size, boundary):
            if part.name in found:
                raise BadBody(f"two parts named {part.name!r}")
            if part.name not in ("metadata", "artifact", "lock"):
                raise BadBody(f"unknown part {part.name!r}: metadata, artifact and lock")
            found[part.name] = part
        meta = found.get("metadata")
        if meta is not None and meta.size > MAX_METADATA:
            raise BadBody(f"the metadata part is larger than {MAX_METADATA} bytes")
        metadata = data[meta.start : meta.end] if meta is not None else None
        out: dict[str, Path] = {}
        for name in ("artifact", "lock"):
            if name in found:
                part = found[name]
                out[name] = folder / name
                with out[name].open("wb") as w:
                    w.write(data[part.start : part.end])
    body.unlink()
    return Spooled(folder, out.get("artifact"), out.get("lock"), metadata)


def request_of(meta: Metadata, spooled: Spooled) -> RegisterRequest:
    code = None
    if meta.code is not None:
        g = meta.code
        if g.dirty != (g.diff_sha256 is not None):
            raise InvalidInput(
                "metadata.code: a dirty tree is sent with its diff_sha256, only then"
            )
        code = CodeRef("git", g.repo, g.commit, dirty=g.dirty, diff_sha256=g.diff_sha256)
    if (spooled.artifact is None) == (meta.artifact_tree is None):
        raise BadBody(
            "send the artifact as a part named 'artifact', or name its stored tree as "
            "metadata.artifact_tree (a folder), one or the other"
        )
    if meta.irreproducible is None:
        if code is None and meta.code_ref is None:
            raise InvalidInput(
                "metadata: give code_ref (or code: {kind: git, repo, commit}): the server cannot "
                "see the checkout the model was trained from"
            )
        if meta.lock is None and spooled.lock is None:
            raise InvalidInput(
                "metadata: give the dependency lock (a 'lock' part, or metadata.lock as text): "
                "it is part of the version's identity, and the server's packages are not yours"
            )
    lock = spooled.lock
    if lock is None and meta.lock is not None:
        lock = spooled.folder / "lock"
        lock.write_text(meta.lock, encoding="utf-8")
    manifest: dict[str, Any] = {
        "command": "mledger server: POST /api/v1/versions",
        "artifact_source": f"upload:{meta.filename or 'artifact'}",
    }
    if meta.hardware is not None:
        manifest["hardware"] = meta.hardware
    notes = meta.code_notes or {}
    manifest.update({k: notes[k] for k in CODE_NOTES if k in notes})
    return RegisterRequest.of(
        meta.name,
        spooled.artifact or Path(meta.filename or "artifact"),
        artifact_tree=meta.artifact_tree,
        data=meta.data,
        params=meta.params,
        seed=meta.seed,
        parent=meta.parent,
        base_model=meta.base_model,
        lock=lock,
        loader=meta.loader,
        card=meta.card,
        irreproducible=meta.irreproducible,
        code_ref=meta.code_ref,
        code=code,
        preprocessing=meta.preprocessing,
        manifest=manifest,
    )


def register_spooled(
    view: Ledger, spooled: Spooled, metadata_text: str | bytes | None, name: str | None
) -> RegisterResult:
    """Register what was spooled, as ``view.user``."""
    text = spooled.metadata if spooled.metadata is not None else metadata_text
    meta = metadata_of(text, name)
    req = request_of(meta, spooled)
    diff = req.code.diff_sha256 if req.code is not None else None
    if diff is not None and not view.blobs.has(diff):
        raise InvalidInput(f"metadata.code.diff_sha256: sha256:{diff} is not stored: send it first")
    return register(view, req)


def temporary_folder(ledger: Ledger) -> tempfile.TemporaryDirectory[str]:
    """Where an upload is spooled: beside the ledger's home when it has one (the same disk as
    its blobs, most likely), else the system's temporary folder."""
    home = ledger.config.home
    base = str(home) if home is not None and os.access(home, os.W_OK) else None
    return tempfile.TemporaryDirectory(prefix="upload-", dir=base)
