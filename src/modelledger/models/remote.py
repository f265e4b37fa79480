"""Registration through the registry server (``MLEDGER_URL``): the tuple is captured here, as a
local registration captures it (the git commit of this checkout and, with ``--allow-dirty``, its
diff; this interpreter's packages or the lock given; this machine's hardware), and sent with the
artifact in one multipart upload (a folder's files and listing go first, each only if the server
lacks it); the server resolves the references, stores the bytes and records the version as the
token's principal. Reading a version back, its id is checked against its tuple here.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from modelledger.capture.hardware import capture_hardware
from modelledger.core.errors import CheckFailed, InvalidInput
from modelledger.data.remote import send_tree
from modelledger.models.checkout import ArtifactCheckout, checkout_version
from modelledger.models.code import capture_code_with
from modelledger.models.register import RegisterRequest, check_request, lock_of, not_code
from modelledger.models.version import CodeRef, DataRef, ModelVersion, id_from_record
from modelledger.remote.blobs import RemoteBlobs
from modelledger.remote.session import Remote, route

CHUNK = 1 << 20


def register_remote(remote: Remote, req: RegisterRequest) -> dict[str, Any]:
    """The server's answer: the version's JSON with ``created`` and ``warnings``."""
    check_request(req)
    blobs = RemoteBlobs(remote)
    meta: dict[str, Any] = {
        "name": req.name,
        "params": req.params,
        "data": [_data_text(d) for d in req.data],
        "seed": req.seed,
        "parent": req.parent,
        "base_model": req.base_model,
        "loader": req.loader,
        "card": req.card,
        "preprocessing": req.preprocessing,
        "irreproducible": req.irreproducible,
        "hardware": capture_hardware(),
        "filename": req.artifact.name,
        **_code(req, blobs),
    }
    lock = lock_of(req)
    folder = req.artifact.is_dir()
    if folder:
        meta["artifact_tree"] = send_tree(blobs, [req.artifact]).sha256
    parts = [("metadata", json.dumps({k: v for k, v in meta.items() if v is not None}).encode())]
    if lock is not None:
        parts.append(("lock", lock))
    answer: dict[str, Any] = upload_parts(
        remote, "/versions", parts, None if folder else req.artifact
    )
    return answer


def version_remote(remote: Remote, ref: str) -> ModelVersion:
    """The version the server names ``ref``, checked: its id is the hash of its tuple, so the
    artifact's sha256 that the bytes will be checked against is the one the id pins."""
    data = remote.get(route("versions", ref))
    if id_from_record(json.dumps(data["tuple"])) != data["id"]:
        raise CheckFailed(f"the server's {data['id']} does not hash to its tuple: not trusted")
    return ModelVersion.from_json(data)


def checkout_remote(
    remote: Remote,
    ref: str,
    folder: Path,
    force: bool = False,
    on_bytes: Callable[[int], None] | None = None,
) -> ArtifactCheckout:
    """``mledger model checkout`` through the server: every byte checked here."""
    return checkout_version(
        RemoteBlobs(remote), version_remote(remote, ref), folder, force, on_bytes
    )


def _data_text(d: str | DataRef) -> str:
    return d if isinstance(d, str) else f"{d.snapshot_id}:{d.role}"


def _code(req: RegisterRequest, blobs: RemoteBlobs) -> dict[str, Any]:
    """The code reference as the server takes it: ``code_ref``, or this checkout's commit (and,
    with ``--allow-dirty``, its diff, sent as a blob) with what the capture noted."""
    if req.code is not None:
        if req.code.kind == "ref":  # (ml.run outside git: the reference it was given)
            return {"code_ref": req.code.ref}
        return {"code": _git(req.code)}
    if req.code_ref:
        return {"code_ref": req.code_ref}
    if req.irreproducible is not None:
        return {}
    code, notes = capture_code_with(
        blobs.ensure_bytes, req.code_dir or Path.cwd(), req.allow_dirty, not_code(req)
    )
    if code is None:
        raise InvalidInput(
            "not inside a git work tree: give --code-ref (the server cannot see your checkout)"
        )
    return {"code": _git(code), "code_notes": notes}


def _git(code: CodeRef) -> dict[str, Any]:
    sent = {"kind": "git", "repo": code.repo, "commit": code.commit, "dirty": code.dirty}
    return {**sent, "diff_sha256": code.diff_sha256} if code.dirty else sent


def upload_parts(
    remote: Remote, path: str, parts: list[tuple[str, bytes]], artifact: Path | None
) -> Any:
    """POST ``parts`` and the artifact file as one ``multipart/form-data`` body, the file
    streamed from disk (its length known first, so no chunked encoding is needed)."""
    boundary = secrets.token_hex(16)
    head = b"".join(_part_head(boundary, name) + data + b"\r\n" for name, data in parts)
    size = 0
    if artifact is not None:
        head += _part_head(boundary, "artifact", artifact.name)
        try:
            size = os.stat(artifact).st_size
        except FileNotFoundError:
            raise InvalidInput(f"--artifact {artifact}: no such file") from None
    tail = (b"\r\n" if artifact is not None else b"") + f"--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        if artifact is not None:
            with artifact.open("rb") as f:
                while chunk := f.read(CHUNK):
                    yield chunk
        yield tail

    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + size + len(tail)),
    }
    return remote.send("POST", path, body(), headers=headers)


def _part_head(boundary: str, name: str, filename: str | None = None) -> bytes:
    # a file name is only a label here; characters that would end the header are dropped
    safe = "".join(c for c in filename or "" if c not in '"\\\r\n')
    named = f'; filename="{safe}"' if filename is not None else ""
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{named}\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
