"""The prediction server's HTTP face (FastAPI): thin handlers over :class:`Server`.

    POST /predict   one request or a batch (see ``handler``); 422 names the bad field,
                    409 for a request id answered before, 503 when nothing is live or the
                    answer cannot be made durable, 500 when the model itself fails
    GET  /health    what is served, the last swap and any failed one, logger counters
                    (200 while something is served, 503 when nothing is live)
    GET  /version   the live id, the route in force and each arm's mv-/sys- ids

An answer leaves only after the ids its client gave are claimed (one answer per id across
processes) and its log records are durable in the serving journal; the journal drains into the
ledger in the background. The lifespan starts the pointer poller and, on shutdown (uvicorn's answer
to SIGTERM, after the requests in flight have been answered), scores the queued shadows and drains
the journal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from modelledger.predictions.claims import ClaimsUnavailable
from modelledger.predictions.journal import JournalUnavailable
from modelledger.serving.features import BadRequest
from modelledger.serving.handler import AlreadyAnswered, Outcome, Unavailable
from modelledger.serving.hotswap import Server
from modelledger.serving.runtime import ModelFailed

__all__ = ["create_app"]


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


def create_app(server: Server) -> FastAPI:
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
        openapi_url=None,
    )

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        body = await request.body()
        try:
            payload = json.loads(body)
        except RecursionError:
            return _json({"detail": "the body is nested too deeply", "field": "body"}, 422)
        except ValueError as exc:
            return _json({"detail": f"the body is not JSON: {exc}", "field": "body"}, 422)
        loop = asyncio.get_running_loop()
        try:
            # On the server's one prediction thread: the event loop stays free for /health and
            # new connections while a model works, and no model is ever called concurrently.
            outcome = await loop.run_in_executor(server.executor, server.predict, payload)
        except BadRequest as exc:
            return _json({"detail": str(exc), "field": exc.field}, 422)
        except Unavailable as exc:
            return _json({"detail": str(exc)}, 503)
        except ModelFailed as exc:
            return _json({"detail": str(exc)}, 500)
        try:
            text = _text(outcome.answer)
        except ValueError as exc:  # NaN or Infinity from the model: not answered, not logged
            return JSONResponse({"detail": f"the model's answer is not JSON: {exc}"}, 500)
        try:
            await _durable(server, outcome)
        except AlreadyAnswered as exc:
            return _json({"detail": str(exc), "field": outcome.id_field}, 409)
        except (ClaimsUnavailable, JournalUnavailable) as exc:
            return _json({"detail": str(exc)}, 503)
        server.handler.after(outcome)
        return Response(text, media_type="application/json")

    @app.get("/health")
    async def health() -> Response:
        report = server.health()
        return _json(report, 200 if report["status"] != "unavailable" else 503)

    @app.get("/version")
    async def version() -> Response:
        return _json(server.version())

    return app
