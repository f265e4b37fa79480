"""The prediction server's HTTP face (FastAPI): thin handlers over :class:`Server`.

    POST /predict   one request or a batch (see ``handler``); 422 names the bad field,
                    409 for a request id answered before, 503 when nothing is live or the
                    answer cannot be made durable, 500 when the model itself fails
    GET  /health    what is served, the last swap and any failed one, logger counters
                    (200 while something is served, 503 when nothing is live)
    GET  /version   the live id, the route in force and each arm's mv-/sys- ids
    GET  /metrics   Prometheus: requests and latency by version and arm, journal backlog,
                    fsync latency, shadow skips, the ledger's availability
    GET  /openapi.json, /docs   the API, its request schema the live versions' declared inputs

A body is read up to a size limit (413 past it), its nesting measured before it is parsed, and a
value with no JSON form (NaN, Infinity, 1e400) refused with a 422 naming it (limits.py).

An answer leaves only after the ids its client gave are claimed (one answer per id across
processes) and its log records are durable in the serving journal; the journal drains into the
ledger in the background. The lifespan starts the pointer poller and, on shutdown (uvicorn's answer
to SIGTERM, after the requests in flight have been answered), scores the queued shadows and drains
the journal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.requests import ClientDisconnect

from modelledger.predictions.claims import ClaimsUnavailable
from modelledger.predictions.journal import JournalUnavailable
from modelledger.serving.docs_page import docs_page
from modelledger.serving.features import BadRequest
from modelledger.serving.handler import AlreadyAnswered, Outcome, Unavailable
from modelledger.serving.hotswap import Server
from modelledger.serving.limits import Limits, TooLarge, parse_body, read_body
from modelledger.serving.openapi import openapi_document
from modelledger.serving.runtime import ModelFailed

__all__ = ["create_app"]

_log = logging.getLogger("modelledger.serving")
_access = logging.getLogger("modelledger.serving.access")


def _text(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _json(body: Any, status: int = 200) -> Response:
    return Response(_text(body), status_code=status, media_type="application/json")


async def _durable(server: Server, outcome: Outcome) -> None:
    """Claim the client's ids, then journal the records: the answer may leave after this."""
    log = server.log
    if outcome.given:
        taken = await asyncio.wrap_future(log.claims.claim(outcome.given))
        if taken is not None:
            raise outcome.taken(taken)
    try:
        await asyncio.wrap_future(log.append(outcome.records))
    except JournalUnavailable:
        if outcome.given:  # not answered after all: the ids are the client's to send again
            await asyncio.get_running_loop().run_in_executor(
                None, log.claims.release, outcome.given
            )
        raise


def create_app(server: Server, limits: Limits | None = None, access_log: bool = False) -> FastAPI:
    limits = limits if limits is not None else Limits()
    server.handler.max_instances = limits.max_instances
    metrics = server.metrics

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        server.start()
        try:
            yield
        finally:
            server.close()

    app = FastAPI(
        title=f"modelledger serving {server.env}",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # ours below: its request schema is the live version's inputs
    )

    def done(response: Response, started: float, outcome: Outcome | None = None) -> Response:
        seconds = time.perf_counter() - started
        answers = _answers(outcome) if outcome is not None and response.status_code == 200 else []
        for answer in answers or [{}]:
            metrics.request(
                answer.get("version_id"), answer.get("arm"), response.status_code, seconds
            )
        if access_log:
            _access.info(
                _text(
                    {
                        "at": round(time.time(), 6),
                        "path": "/predict",
                        "status": response.status_code,
                        "ms": round(seconds * 1000, 3),
                        "request_ids": [a.get("request_id") for a in answers],
                        "versions": sorted({str(a.get("version_id")) for a in answers}),
                    }
                )
            )
        return response

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = await read_body(request, limits.max_body_bytes)
        except TooLarge as exc:
            return done(_json({"detail": str(exc), "field": "body"}, 413), started)
        except ClientDisconnect:
            _log.info("a client disconnected before its request was read")
            return done(Response(status_code=400), started)
        try:
            payload = parse_body(body, limits.max_depth)
        except BadRequest as exc:
            return done(_json({"detail": str(exc), "field": exc.field}, 422), started)
        loop = asyncio.get_running_loop()
        try:
            # On the server's one prediction thread: the event loop stays free for /health and
            # new connections while a model works, and no model is ever called concurrently.
            outcome = await loop.run_in_executor(server.executor, server.predict, payload)
        except BadRequest as exc:
            return done(_json({"detail": str(exc), "field": exc.field}, 422), started)
        except Unavailable as exc:
            return done(_json({"detail": str(exc)}, 503), started)
        except ModelFailed as exc:
            return done(_json({"detail": str(exc)}, 500), started)
        try:
            text = _text(outcome.answer)
        except ValueError as exc:  # NaN or Infinity from the model: not answered, not logged
            return done(
                JSONResponse({"detail": f"the model's answer is not JSON: {exc}"}, 500), started
            )
        try:
            await _durable(server, outcome)
        except AlreadyAnswered as exc:
            return done(_json({"detail": str(exc), "field": outcome.id_field}, 409), started)
        except (ClaimsUnavailable, JournalUnavailable) as exc:
            return done(_json({"detail": str(exc)}, 503), started)
        server.handler.after(outcome)
        return done(Response(text, media_type="application/json"), started, outcome)

    @app.get("/health")
    async def health() -> Response:
        report = server.health()
        return _json(report, 200 if report["status"] != "unavailable" else 503)

    @app.get("/version")
    async def version() -> Response:
        return _json(server.version())

    @app.get("/metrics")
    async def metrics_text() -> Response:
        server.observe_metrics()
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/openapi.json")
    async def openapi() -> Response:
        runtime = server.runtime
        policy = runtime.policy
        document = openapi_document(
            server.env,
            {name: arm.contract.inputs for name, arm in runtime.arms.items()},
            version=_package_version(),
            sticky_key=policy.sticky_key if policy is not None else None,
            live=runtime.live_label if runtime.serving else None,
            max_instances=limits.max_instances,
            max_body_bytes=limits.max_body_bytes,
        )
        return _json(document)

    @app.get("/docs")
    async def docs() -> Response:
        return HTMLResponse(docs_page("/openapi.json"))

    return app


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("modelledger")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def _answers(outcome: Outcome) -> list[dict[str, Any]]:
    batch = outcome.answer.get("predictions")
    return list(batch) if isinstance(batch, list) else [outcome.answer]
