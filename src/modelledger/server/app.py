"""The registry API's HTTP face (FastAPI): thin handlers over the ledger's use cases.

    GET  /api/v1/whoami                     the token's principal, roles and scopes
    GET  /api/v1/versions/{ref}             a version, as `mledger model show --json`
    GET  /api/v1/resolve/{ref}              a reference (churn@production, churn@3) → its id
    POST /api/v1/versions                   register: the artifact as the body, or multipart
    GET  /api/v1/versions                   versions, newest first (`model list`)
    GET  /api/v1/search                     `model search`: params, metrics, data, tags …
    GET  /api/v1/environments[/{env}]       what is live, as `mledger env list|show --json`
    GET  /api/v1/environments/{env}/history every move (`env history`)
    GET  /api/v1/environments/{env}/at      what was live at a time (`env at`)
    PUT  /api/v1/environments/{env}/policy  set the gate policy (admin; signed by the client)
    POST /api/v1/environments/{env}/rollback roll back (an approver; signed by the client)
    GET  /api/v1/requests[/{id}]            promotion requests
    POST /api/v1/requests/draft             the request to sign (nothing written)
    POST /api/v1/requests                   open a request signed by its requester
    POST /api/v1/requests/{id}/approve      an approval signed by the approver (or /reject)
    POST /api/v1/promotions                 move an environment whose policy needs no approval
    GET  /api/v1/blobs/{sha256}             stored bytes (the client checks them against the hash)
    PUT  /api/v1/blobs/{sha256}             store bytes, kept only if they hash to the address
    POST /api/v1/blobs/missing              which of these the store lacks
    POST /api/v1/snapshots                  record a snapshot of uploaded files and their tree
    GET  /api/v1/snapshots[/{ref}]          snapshots, as `mledger data list|show --json`
    GET  /api/v1/eval-sets                  eval sets (POST: mark an uploaded tree as one)
    POST /api/v1/evals                      record an eval result (GET /evals/compare?a=&b=)
    GET  /api/v1/environments/{env}/gate    `gate check`: the candidate ?ref= against the gate
    POST /api/v1/environments/{env}/rehearsal  `rehearse`: check live and rollback target
    GET  /api/v1/diff?a=&b=                 `data diff`
    GET  /api/v1/predictions/{request_id}   `audit prediction`: what served a request
    …/versions/{ref}/tags|description|lineage|verify|card, …/snapshots/{ref}/lineage|card,
    GET /leakage, GET /affected, GET /environments/{env}/route, POST /environments: the
    commands of the same names (docs/server.md lists them)
    GET  /api/v1/events                     the audit log, filtered
    GET  /api/v1/openapi.json               this API

Every route takes a bearer token and checks its role (reader, writer, approver for the
environment, admin); every write records the token's principal as its actor. Errors are JSON
``{"error": "…"}``: 400 a body that is not what it says, 401 no valid token (one message for
every reason), 403 a role or a signer that does not fit, 404, 409 state that forbids it, 413 a
body past the limit, 422 input that does not validate, 429 too many failed authentications.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as InPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from modelledger.core.canonical import canonical_json
from modelledger.core.errors import (
    AmbiguousReference,
    CheckFailed,
    Conflict,
    ImmutableRecord,
    InvalidInput,
    MledgerError,
    NoLedger,
    NotAllowed,
    NotFound,
    StoreUnavailable,
)
from modelledger.ledger.home import Ledger
from modelledger.releases.requests import Approval
from modelledger.server import blobs, policies, promotions, uploads
from modelledger.server.actor import acting_as
from modelledger.server.auth import Authenticator, TooManyFailures, Unauthenticated
from modelledger.server.caller import Caller
from modelledger.server.multipart import BadBody
from modelledger.server.oidc import OidcVerifier

__all__ = ["Limits", "create_app"]

API = "/api/v1"
MiB = 1 << 20
_log = logging.getLogger("modelledger.server")


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 1024 * MiB  # POST /versions
    max_body_bytes: int = 1 * MiB  # every other body (JSON)
    auth_failures: int = 20  # per client address …
    auth_window: float = 60.0  # … in this many seconds, then 429


class TooLarge(MledgerError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes, the most this route accepts")


def _status(exc: Exception) -> int:
    for kind, status in (
        (Unauthenticated, 401),
        (TooManyFailures, 429),
        (TooLarge, 413),
        (BadBody, 400),
        (NotAllowed, 403),
        (NotFound, 404),
        (policies.SignatureNeeded, 409),
        (Conflict, 409),
        (ImmutableRecord, 409),
        (CheckFailed, 409),
        (AmbiguousReference, 422),
        (InvalidInput, 422),
        (NoLedger, 503),
        (StoreUnavailable, 503),
    ):
        if isinstance(exc, kind):
            return status
    return 400


def error_kind(exc: Exception) -> str:
    """The error's kind as a client raises it again (``remote.session``): the name of the
    nearest of the project's own error classes, in snake case (``check_failed``)."""
    for cls in type(exc).__mro__:
        if cls.__module__ == MledgerError.__module__:
            return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
    return "error"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(canonical_json(body), status, headers, media_type="application/json")


def _error(exc: MledgerError) -> Response:
    status = _status(exc)
    body: dict[str, Any] = {"error": str(exc), "kind": error_kind(exc)}
    headers = None
    if isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, TooManyFailures):
        headers = {"Retry-After": str(exc.retry_after)}
    elif isinstance(exc, policies.SignatureNeeded):
        body["statement"] = exc.statement
    if isinstance(exc, promotions.NoApprovalNeeded):
        body["next"] = exc.next
    checks = getattr(exc, "checks", None)  # a rollback target that failed its checks
    if isinstance(checks, list):
        body["checks"] = [c.to_json() for c in checks]
    decision = getattr(exc, "decision", None)  # a gate that said no: its report
    if decision is not None and hasattr(decision, "report"):
        body["gate"] = decision.report.to_json()
    return _json(body, status, headers)


class BodyLimit:
    """Refuses a body past its route's limit (413): at once when Content-Length says so, else
    as soon as more has arrived, so an oversized upload costs at most the limit."""

    def __init__(self, app: Any, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        upload = (path == f"{API}/versions" and method == "POST") or (
            path.startswith(f"{API}/blobs/") and method == "PUT"
        )
        limit = self.limits.max_upload_bytes if upload else self.limits.max_body_bytes
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        problem: MledgerError | None = None
        if declared is not None:
            if not declared.isdigit():
                problem = BadBody("Content-Length is not a number")
            elif int(declared) > limit:
                problem = TooLarge(limit)
        if problem is not None:
            response = _error(problem)
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge(limit)
            return message

        await self.app(scope, limited, send)


# -- bodies ---------------------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Signature(_Body):
    key: str = Field(max_length=200, description="ed25519:<hex>, the signer's public key")
    sig: str = Field(max_length=200, description="hex Ed25519 signature")


class DraftBody(_Body):
    ref: str = Field(min_length=1, max_length=300, description="the candidate: id, NAME@N")
    env: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=5000)
    override: bool = False
    expires: str = Field(default="7d", max_length=20, description="how long the request lasts")


class OpenBody(_Body):
    request: dict[str, Any] = Field(
        description="the drafted request, as POST /requests/draft gave it"
    )
    signed: Signature


class DecisionBody(_Body):
    at: str = Field(max_length=40, description="when the client signed (a ledger timestamp)")
    reason: str | None = Field(default=None, max_length=5000)
    signed: Signature


class MoveBody(_Body):
    ref: str = Field(min_length=1, max_length=300)
    env: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=5000)
    override: bool = False
    expect_live: str | None = Field(default=None, max_length=300)


class MissingBody(_Body):
    sha256: list[Annotated[str, Field(pattern=blobs.SHA256)]] = Field(max_length=10_000)


class CodeGit(_Body):
    repo: str = Field(max_length=2000)
    commit: str = Field(pattern="^[0-9a-f]{7,64}$")
    dirty: bool


class CodeBody(_Body):
    """A transformation's code: a reference, or a file uploaded as a blob (with its git state)."""

    ref: str | None = Field(default=None, min_length=1, max_length=2000)
    file: str | None = Field(default=None, min_length=1, max_length=1000)
    sha256: str | None = Field(default=None, pattern=blobs.SHA256)
    git: CodeGit | None = None


class SnapshotBody(_Body):
    name: str = Field(min_length=1, max_length=200)
    tree: str = Field(pattern=blobs.SHA256, description="the stored tree listing's sha256")
    card: dict[str, Any] | None = None
    inputs: list[str] = Field(default_factory=list, max_length=1000, description="--from")
    step: str | None = Field(default=None, max_length=2000)
    code: CodeBody | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class EvalSetBody(_Body):
    name: str = Field(min_length=1, max_length=200)
    tree: str = Field(pattern=blobs.SHA256, description="the stored tree listing's sha256")


class EvalBody(_Body):
    ref: str = Field(min_length=1, max_length=300, description="the version scored")
    eval_set: str = Field(min_length=1, max_length=300)
    metrics: dict[str, float] = Field(default_factory=dict)
    slices: dict[str, dict[str, float]] = Field(default_factory=dict)
    report_sha256: str | None = Field(default=None, pattern=blobs.SHA256)


class RollbackBody(_Body):
    to: str | None = Field(default=None, max_length=300, description="the target; else previous")
    reason: str = Field(min_length=1, max_length=5000)
    key: str = Field(max_length=200, description="your public key, to be sent what to sign")
    statement: dict[str, Any] | None = Field(
        default=None, description="the statement a 409 asked you to sign, signed as 'signed'"
    )
    signed: Signature | None = None


class TagsBody(_Body):
    set: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list, max_length=1000)


class DescriptionBody(_Body):
    text: str | None = Field(default=None, max_length=100_000, description="null: remove it")


class CardBody(_Body):
    card: dict[str, Any]


class EnvBody(_Body):
    name: str = Field(min_length=1, max_length=200)


class PolicyBody(_Body):
    policy: dict[str, Any] = Field(description="the gate policy, as `mledger env policy` reads it")
    key: str | None = Field(default=None, max_length=200, description="your public key, to sign")
    signed: Signature | None = None


_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["artifact", "metadata"],
                    "properties": {
                        "metadata": {"type": "string", "description": "JSON: name, params …"},
                        "artifact": {"type": "string", "format": "binary"},
                        "lock": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


_RAW_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


# -- the app ----------------------------------------------------------------------------------------
def create_app(
    ledger: Ledger,
    limits: Limits | None = None,
    oidc: OidcVerifier | None = None,
    local: tuple[str, Caller] | None = None,
) -> FastAPI:
    """The API over ``ledger`` (opened once per process, shared by every request); ``oidc``:
    an identity provider whose JWTs are accepted beside the ledger's API tokens; ``local``:
    the one secret of ``mledger ui`` and the person it stands for."""
    limits = limits or Limits()
    auth = Authenticator(ledger, limits.auth_failures, limits.auth_window, oidc=oidc, local=local)
    bearer = HTTPBearer(auto_error=False, description="an API token: `mledger token create`")
    app = FastAPI(
        title="modelledger registry",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.authenticator = auth
    router = APIRouter(prefix=API, dependencies=[Depends(bearer)])

    def caller(request: Request, role: str, env: str | None = None) -> tuple[Caller, Ledger]:
        client = request.client.host if request.client else "unknown"
        who = auth.caller(request.headers.get("authorization"), client)
        who.require(role, env)
        return who, acting_as(ledger, who.name)

    @app.exception_handler(MledgerError)
    async def _known(_request: Request, exc: MledgerError) -> Response:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _json({"error": f"{where}: {first.get('msg')}" if where else first.get("msg")}, 422)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> Response:
        return _json({"error": str(exc.detail)}, exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # the method and path only: never a header (tokens) or a body
        _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _json({"error": "internal error (the server's log says more)"}, 500)

    # The two cheapest reads (a token check and an indexed lookup or two) answer on the event
    # loop: a hop to the thread pool would cost more than the work.
    @router.get("/whoami")
    async def whoami(request: Request) -> Response:
        who, _ = caller(request, "reader")
        return _json(who.to_json())

    @router.get("/versions/{ref}")
    def version(request: Request, ref: str) -> Response:
        from modelledger.models.status import show

        _, view = caller(request, "reader")
        return _json(show(view, ref))

    @router.get("/versions")
    def versions(
        request: Request,
        name: str | None = Query(None, max_length=200),
        limit: int = Query(100, ge=1, le=10_000),
    ) -> Response:
        from modelledger.models.reads import list_versions

        _, view = caller(request, "reader")
        return _json([v.to_json() for v in list_versions(view, name, limit)])

    @router.get("/search")
    def search(
        request: Request,
        name: str | None = Query(None, max_length=200),
        param: list[str] = Query([], max_length=100),
        metric: list[str] = Query([], max_length=100),
        eval_set: str | None = Query(None, max_length=300),
        data: list[str] = Query([], max_length=100),
        tag: list[str] = Query([], max_length=100),
        by: str | None = Query(None, max_length=200),
        since: str | None = Query(None, max_length=40),
        until: str | None = Query(None, max_length=40),
        limit: int = Query(50, ge=1, le=10_000),
    ) -> Response:
        from modelledger.search.conditions import Search
        from modelledger.search.find import search as run

        _, view = caller(request, "reader")
        query = Search.asked(
            name, param=param, metric=metric, eval_set=eval_set, data=data, tag=tag, by=by,
            since=since, until=until, limit=limit,
        )  # fmt: skip
        return _json(run(view, query).to_json())

    @router.get("/resolve/{ref}")
    async def resolve(request: Request, ref: str) -> Response:
        from modelledger.models.resolve import resolve_subject

        _, view = caller(request, "reader")
        with view.db.read() as conn:
            found = resolve_subject(conn, ref, latest=True)
        return _json({"ref": ref, "id": found})

    @router.post("/versions", status_code=201, openapi_extra=_UPLOAD_DOC)
    async def register(
        request: Request,
        name: str | None = Query(None, max_length=200, description="raw uploads: the model"),
        metadata: str | None = Query(None, max_length=1 << 16, description="raw uploads: JSON"),
    ) -> Response:
        _, view = await run_in_threadpool(caller, request, "writer")
        content_type = request.headers.get("content-type", "application/octet-stream")
        with uploads.temporary_folder(ledger) as folder:
            spooled = await uploads.spool(request.stream(), content_type, Path(folder))
            result = await run_in_threadpool(
                uploads.register_spooled, view, spooled, metadata, name
            )
        v = result.version
        body = {**v.to_json(), "created": result.created, "warnings": list(result.warnings)}
        return _json(body, 201 if result.created else 200)

    @router.get("/environments/{env}")
    def environment(request: Request, env: str) -> Response:
        from modelledger.releases.env_status import show

        _, view = caller(request, "reader")
        return _json(show(view, env))

    @router.get("/environments")
    def environments(request: Request) -> Response:
        from modelledger.releases.environments import list_envs

        _, view = caller(request, "reader")
        return _json(list_envs(view))

    @router.get("/environments/{env}/history")
    def env_history(
        request: Request, env: str, limit: int | None = Query(None, ge=1, le=100_000)
    ) -> Response:
        from modelledger.releases.environments import history

        _, view = caller(request, "reader")
        return _json(history(view, env, limit))

    @router.get("/environments/{env}/at")
    def env_at(request: Request, env: str, time: str = Query(max_length=40)) -> Response:
        from modelledger.releases.environments import at

        _, view = caller(request, "reader")
        return _json(at(view, env, time))

    @router.put("/environments/{env}/policy")
    def policy(request: Request, env: str, body: PolicyBody) -> Response:
        import tempfile

        from modelledger.identity import store as identities

        who, view = caller(request, "admin", env)
        public = body.signed.key if body.signed else body.key
        if public is None:
            raise InvalidInput("give your public key as 'key' (to be sent what to sign)")
        with view.db.read() as conn:
            d = identities.directory(conn)
        key = policies.remote_key(d, who.name, public, body.signed.sig if body.signed else None)
        with tempfile.TemporaryDirectory(prefix="policy-") as folder:
            return _json(policies.put_policy(view, env, body.policy, key, Path(folder)))

    @router.post("/environments/{env}/rollback", status_code=201)
    def rollback(request: Request, env: str, body: RollbackBody) -> Response:
        from modelledger.identity import store as identities
        from modelledger.releases.rollback import rollback as run

        who, view = caller(request, "approver", env)
        if (body.statement is None) != (body.signed is None):
            raise InvalidInput("send 'statement' and 'signed' together (the statement signed)")
        with view.db.read() as conn:
            d = identities.directory(conn)
        key = policies.remote_key(d, who.name, body.key, body.signed.sig if body.signed else None)
        done = run(view, env, [], body.reason, body.to, key, signed_as=body.statement)
        return _json({"rolled_back": True, **done.to_json()}, 201)

    @router.get("/requests")
    def requests(
        request: Request,
        env: str | None = Query(None, max_length=200),
        everything: bool = Query(
            False, alias="all", description="decided, expired and superseded ones too"
        ),
    ) -> Response:
        from modelledger.releases.workflow import listing

        _, view = caller(request, "reader")
        return _json([s.to_json() for s in listing(view, env, everything)])

    @router.get("/requests/{request_id}")
    def one_request(request: Request, request_id: str) -> Response:
        from modelledger.releases.workflow import show

        _, view = caller(request, "reader")
        return _json(show(view, request_id).to_json())

    @router.post("/requests/draft")
    def draft(request: Request, body: DraftBody) -> Response:
        _, view = caller(request, "writer")
        made = promotions.draft(view, body.ref, body.env, body.reason, body.override, body.expires)
        return _json(made.to_json())

    @router.post("/requests", status_code=201)
    def open_request(request: Request, body: OpenBody) -> Response:
        _, view = caller(request, "writer")
        state = promotions.open_signed(view, body.request, body.signed.model_dump())
        return _json(state.to_json(), 201)

    def decide(request: Request, request_id: str, body: DecisionBody, decision: str) -> Response:
        from modelledger.releases.workflow import record_decision, show

        who, view = caller(request, "reader")
        state = show(view, request_id)
        who.require("approver", state.request.env)
        if request_id != state.request.id:
            raise NotFound(f"no promotion request {request_id} (name it by its full id)")
        approval = Approval(
            request_id, decision, body.reason, who.name, body.at, body.signed.model_dump()
        )
        return _json(record_decision(view, approval, who.name).to_json())

    @router.post("/requests/{request_id}/approve")
    def approve(request: Request, request_id: str, body: DecisionBody) -> Response:
        return decide(request, request_id, body, "approve")

    @router.post("/requests/{request_id}/reject")
    def reject(request: Request, request_id: str, body: DecisionBody) -> Response:
        return decide(request, request_id, body, "reject")

    @router.post("/promotions", status_code=201)
    def promotions_(request: Request, body: MoveBody) -> Response:
        _, view = caller(request, "writer")
        done = promotions.move(
            view, body.ref, body.env, body.reason, body.override, body.expect_live
        )
        return _json(done.to_json(), 201)

    @router.get("/blobs/{sha256}", response_class=Response)
    def blob(request: Request, sha256: str = InPath(pattern=blobs.SHA256)) -> Response:
        caller(request, "reader")
        return blobs.blob_response(ledger, sha256)

    @router.put("/blobs/{sha256}", openapi_extra=_RAW_DOC)
    async def put_blob(request: Request, sha256: str = InPath(pattern=blobs.SHA256)) -> Response:
        await run_in_threadpool(caller, request, "writer")
        with uploads.temporary_folder(ledger) as folder:
            spooled = await uploads.spool(
                request.stream(), "application/octet-stream", Path(folder)
            )
            assert spooled.artifact is not None  # a raw body is the artifact
            info = await run_in_threadpool(blobs.store_sent, ledger, sha256, spooled.artifact)
        return _json({"sha256": info.sha256, "size": info.size})

    @router.post("/blobs/missing")
    def missing_blobs(request: Request, body: MissingBody) -> Response:
        caller(request, "writer")
        return _json({"missing": sorted(ledger.blobs.missing(body.sha256))})

    @router.post("/snapshots", status_code=201)
    def take_snapshot(request: Request, body: SnapshotBody) -> Response:
        from modelledger.data.snapshot import SnapshotRequest, snapshot_stored

        _, view = caller(request, "writer")
        code = body.code.model_dump(exclude_none=True) if body.code else None
        if code is not None and ("ref" in code) == ("sha256" in code and "file" in code):
            raise InvalidInput("code: give either ref, or file and sha256 (an uploaded script)")
        req = SnapshotRequest([], body.name, body.card, body.inputs, body.step, None, body.params)
        req.code = body.code.ref or body.code.file if body.code else None
        done = snapshot_stored(view, req, body.tree, code)
        return _json(done.to_json(), 201 if done.created else 200)

    @router.get("/snapshots")
    def snapshots(request: Request, name: str | None = Query(None, max_length=200)) -> Response:
        from modelledger.data.snapshot import list_snapshots

        _, view = caller(request, "reader")
        return _json([s.to_json() for s in list_snapshots(view, name)])

    @router.get("/snapshots/{ref}")
    def one_snapshot(request: Request, ref: str) -> Response:
        from modelledger.data.snapshot import show

        _, view = caller(request, "reader")
        return _json(show(view, ref))

    @router.get("/eval-sets")
    def eval_sets(request: Request, name: str | None = Query(None, max_length=200)) -> Response:
        from modelledger.evals.evaluate import list_eval_sets

        _, view = caller(request, "reader")
        return _json(list_eval_sets(view, name))

    @router.post("/eval-sets", status_code=201)
    def eval_set(request: Request, body: EvalSetBody) -> Response:
        from modelledger.data.snapshot import SnapshotRequest, snapshot_stored
        from modelledger.evals.evaluate import mark_eval_set

        _, view = caller(request, "writer")
        done = snapshot_stored(view, SnapshotRequest([], body.name), body.tree, None)
        created = mark_eval_set(view, done.snapshot, body.name)
        return _json({**done.to_json(), "eval_set_created": created}, 201 if created else 200)

    @router.post("/evals", status_code=201)
    def evals(request: Request, body: EvalBody) -> Response:
        from modelledger.evals.evaluate import record

        _, view = caller(request, "writer")
        done = record(
            view, body.ref, body.eval_set, body.metrics, body.slices,
            report_sha256=body.report_sha256,
        )  # fmt: skip
        answer = {**done.result.to_json(), "label": done.label, "created": done.created}
        return _json({**answer, "warnings": list(done.warnings)}, 201 if done.created else 200)

    @router.get("/evals/compare")
    def compare(
        request: Request, a: str = Query(max_length=300), b: str = Query(max_length=300)
    ) -> Response:
        from modelledger.evals.evaluate import compare as side_by_side

        _, view = caller(request, "reader")
        return _json(side_by_side(view, a, b))

    @router.get("/environments/{env}/gate")
    def gate(request: Request, env: str, ref: str = Query(max_length=300)) -> Response:
        from modelledger.releases.gatekeeper import check, decision_json

        _, view = caller(request, "reader")
        return _json(decision_json(check(view, ref, env)))

    @router.post("/environments/{env}/rehearsal", status_code=201)
    def rehearsal(request: Request, env: str) -> Response:
        from modelledger.releases.rehearse import rehearse

        _, view = caller(request, "writer")
        return _json(rehearse(view, env).to_json(), 201)

    @router.get("/diff")
    def data_diff(
        request: Request,
        a: str = Query(max_length=300),
        b: str = Query(max_length=300),
        key: list[str] = Query([], max_length=20),
        by: list[str] = Query([], max_length=20),
        table: list[str] = Query([], max_length=20),
        sample: int = Query(5, ge=0, le=100),
    ) -> Response:
        from modelledger.data.diff import diff

        _, view = caller(request, "reader")
        found = diff(view, a, b, tables=table, key=key or None, by=by, sample=sample)
        return _json(found)

    @router.get("/predictions/{request_id}")
    def prediction(request: Request, request_id: str) -> Response:
        from modelledger.predictions.audit import audit_prediction

        _, view = caller(request, "reader")
        return _json(audit_prediction(view, request_id))

    @router.post("/versions/{ref}/tags")
    def tags(request: Request, ref: str, body: TagsBody) -> Response:
        from modelledger.models import labels

        _, view = caller(request, "writer")
        return _json(labels.tag(view, ref, body.set, body.remove).to_json())

    @router.put("/versions/{ref}/description")
    def description(request: Request, ref: str, body: DescriptionBody) -> Response:
        from modelledger.models import labels

        _, view = caller(request, "writer")
        return _json(labels.describe(view, ref, body.text).to_json())

    @router.get("/versions/{ref}/lineage")
    def version_lineage(request: Request, ref: str) -> Response:
        from modelledger.models.reads import lineage

        _, view = caller(request, "reader")
        return _json(lineage(view, ref))

    @router.get("/versions/{ref}/verify")
    def version_verify(request: Request, ref: str) -> Response:
        from modelledger.models.reads import verify

        _, view = caller(request, "reader")
        return _json(verify(view, ref).to_json())

    @router.get("/versions/{ref}/card")
    def model_card(request: Request, ref: str) -> Response:
        from modelledger.models.reads import card_json

        _, view = caller(request, "reader")
        return _json(card_json(view, ref))

    @router.put("/versions/{ref}/card")
    def amend_model_card(request: Request, ref: str, body: CardBody) -> Response:
        from modelledger.models.reads import amended_json

        _, view = caller(request, "writer")
        return _json(amended_json(view, ref, body.card))

    @router.get("/snapshots/{ref}/lineage")
    def snapshot_lineage(request: Request, ref: str) -> Response:
        from modelledger.impact.lineage import data_lineage

        _, view = caller(request, "reader")
        return _json(data_lineage(view, ref))

    @router.get("/snapshots/{ref}/card")
    def dataset_card(request: Request, ref: str) -> Response:
        from modelledger.data.dataset_cards import card_json

        _, view = caller(request, "reader")
        return _json(card_json(view, ref))

    @router.put("/snapshots/{ref}/card")
    def amend_dataset_card(request: Request, ref: str, body: CardBody) -> Response:
        from modelledger.data.dataset_cards import amended_json

        _, view = caller(request, "writer")
        return _json(amended_json(view, ref, body.card))

    @router.get("/leakage")
    def leakage(
        request: Request,
        eval: str = Query(max_length=300),
        train: list[str] = Query(max_length=100),
        key: list[str] = Query([], max_length=20),
        columns: list[str] = Query([], max_length=100),
        sample: int = Query(5, ge=0, le=100),
    ) -> Response:
        from modelledger.data.leakage import leakage as check

        _, view = caller(request, "reader")
        found = check(view, eval, train, key=key or None, columns=columns or None, sample=sample)
        return _json(found)

    @router.get("/affected")
    def affected(
        request: Request,
        source: str | None = Query(None, max_length=2000),
        record: str | None = Query(None, max_length=2000),
        within: list[str] = Query([], max_length=1000),
    ) -> Response:
        from modelledger.impact.affected import affected as trace

        _, view = caller(request, "reader")
        return _json(trace(view, source=source, record=record, within=within))

    @router.get("/environments/{env}/route")
    def env_route(
        request: Request, env: str, key: list[str] = Query([], max_length=100)
    ) -> Response:
        from modelledger.serving.routing import show_json

        _, view = caller(request, "reader")
        return _json(show_json(view, env, key))

    @router.post("/environments", status_code=201)
    def create_environment(request: Request, body: EnvBody) -> Response:
        from modelledger.releases.environments import create

        _, view = caller(request, "admin")
        created = create(view, body.name)
        return _json({"env": body.name, "created": created}, 201 if created else 200)

    @router.get("/events")
    def events(
        request: Request,
        subject: str | None = Query(None, max_length=300),
        kind: str | None = Query(None, max_length=100),
        actor: str | None = Query(None, max_length=200),
        since: str | None = Query(None, max_length=40, description="ISO 8601, or 24h, 7d …"),
        until: str | None = Query(None, max_length=40),
        limit: int = Query(50, ge=1, le=1000),
    ) -> Response:
        from modelledger.ledger.audit import EventQuery, log
        from modelledger.models.resolve import resolve_subject

        _, view = caller(request, "reader")
        query = EventQuery(subject, kind, actor, since, until, limit)
        found = log(view, query, resolve=resolve_subject)
        return _json([e.to_json() for e in found.events])

    app.include_router(router)
    from modelledger.server.ui.routes import ui_router

    app.include_router(ui_router(ledger, auth))

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        from fastapi.responses import RedirectResponse

        return RedirectResponse("/ui/", 303)

    app.add_middleware(BodyLimit, limits=limits)
    return app
