"""Registration through the registry server (``MLEDGER_URL``): the tuple is captured here, as a
local registration captures it (the git commit of this checkout, this interpreter's packages or
the lock given, this machine's hardware), and sent with the artifact in one multipart upload;
the server resolves the references, stores the bytes and records the version as the token's
principal. What the server cannot check it is not asked to trust: a dirty working tree is
refused here (its diff cannot be uploaded yet) rather than registered as clean.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelledger.capture.git import capture_git
from modelledger.capture.hardware import capture_hardware
from modelledger.core.errors import CheckFailed, DirtyWorkingTree, InvalidInput
from modelledger.models.register import RegisterRequest, check_request, lock_of, not_code
from modelledger.models.version import DataRef, ModelVersion, id_from_record
from modelledger.remote.session import Remote, route

CHUNK = 1 << 20


def register_remote(remote: Remote, req: RegisterRequest) -> dict[str, Any]:
    """The server's answer: the version's JSON with ``created`` and ``warnings``."""
    check_request(req)
    if req.artifact.is_dir():
        raise InvalidInput(
            f"--artifact {req.artifact}: a folder cannot be uploaded to the registry server yet"
        )
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
        **_code(req),
    }
    lock = lock_of(req)
    parts = [("metadata", json.dumps({k: v for k, v in meta.items() if v is not None}).encode())]
    if lock is not None:
        parts.append(("lock", lock))
    answer: dict[str, Any] = upload_parts(remote, "/versions", parts, req.artifact)
    return answer


def version_remote(remote: Remote, ref: str) -> ModelVersion:
    """The version the server names ``ref``, checked: its id is the hash of its tuple, so the
    artifact's sha256 that the bytes will be checked against is the one the id pins."""
    data = remote.get(route("versions", ref))
    if id_from_record(json.dumps(data["tuple"])) != data["id"]:
        raise CheckFailed(f"the server's {data['id']} does not hash to its tuple: not trusted")
    return ModelVersion.from_json(data)


def _data_text(d: str | DataRef) -> str:
    return d if isinstance(d, str) else f"{d.snapshot_id}:{d.role}"


def _code(req: RegisterRequest) -> dict[str, Any]:
    """The code reference as the server takes it: ``code_ref``, or this checkout's commit."""
    if req.code is not None:
        if req.code.dirty:
            raise InvalidInput("a dirty code reference cannot be registered through the server")
        return {"code": {"kind": "git", "repo": req.code.repo, "commit": req.code.commit}}
    if req.code_ref:
        return {"code_ref": req.code_ref}
    if req.irreproducible is not None:
        return {}
    state = capture_git(req.code_dir or Path.cwd(), not_code(req), full=False)
    if state is None:
        raise InvalidInput(
            "not inside a git work tree: give --code-ref (the server cannot see your checkout)"
        )
    if state.dirty:
        raise DirtyWorkingTree(
            f"the working tree of {state.root} has uncommitted changes ({state.dirty_listing}): "
            "commit them first (a dirty tree's diff cannot be uploaded to the registry server yet)"
        )
    return {"code": {"kind": "git", "repo": state.repo, "commit": state.commit}}


def upload_parts(remote: Remote, path: str, parts: list[tuple[str, bytes]], artifact: Path) -> Any:
    """POST ``parts`` and the artifact file as one ``multipart/form-data`` body, the file
    streamed from disk (its length known first, so no chunked encoding is needed)."""
    boundary = secrets.token_hex(16)
    head = b"".join(_part_head(boundary, name) + data + b"\r\n" for name, data in parts)
    head += _part_head(boundary, "artifact", artifact.name)
    tail = f"\r\n--{boundary}--\r\n".encode()
    try:
        size = os.stat(artifact).st_size
    except FileNotFoundError:
        raise InvalidInput(f"--artifact {artifact}: no such file") from None

    def body() -> Iterator[bytes]:
        yield head
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
