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
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException

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
from modelledger.server import api_data, api_models, api_releases, policies, promotions
from modelledger.server.actor import acting_as
from modelledger.server.answers import json_answer as _json
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

    # The cheapest read (a token check) answers on the event loop: a hop to the thread pool
    # would cost more than the work.
    @router.get("/whoami")
    async def whoami(request: Request) -> Response:
        who, _ = caller(request, "reader")
        return _json(who.to_json())

    @router.get("/predictions/{request_id}")
    def prediction(request: Request, request_id: str) -> Response:
        from modelledger.predictions.audit import audit_prediction

        _, view = caller(request, "reader")
        return _json(audit_prediction(view, request_id))

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

    api_models.add_routes(router, caller, ledger)
    api_data.add_routes(router, caller, ledger)
    api_releases.add_routes(router, caller, ledger)

    app.include_router(router)
    from modelledger.server.ui.routes import ui_router

    app.include_router(ui_router(ledger, auth))

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        from fastapi.responses import RedirectResponse

        return RedirectResponse("/ui/", 303)

    app.add_middleware(BodyLimit, limits=limits)
    return app
