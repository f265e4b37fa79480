"""The prediction server's HTTP face (FastAPI): thin handlers over :class:`Server`.

    POST /predict   one request or a batch (see ``handler``); 422 names the bad field,
                    503 when nothing is live, 500 when the model itself fails
    GET  /health    what is served, the last swap and any failed one, logger counters
                    (200 while something is served, 503 when nothing is live)
    GET  /version   the live id, the route in force and each arm's mv-/sys- ids

The lifespan starts the pointer poller and, on shutdown (uvicorn's answer to SIGTERM, after the
requests in flight have been answered), scores the queued shadows and writes every queued
prediction, so each acknowledged request is in the inference log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from modelledger.serving.features import BadRequest
from modelledger.serving.handler import AlreadyAnswered, Unavailable
from modelledger.serving.hotswap import Server
from modelledger.serving.runtime import ModelFailed

__all__ = ["create_app"]


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
    )


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
        try:
            # On the server's one prediction thread: the event loop stays free for /health and
            # new connections while a model works, and no model is ever called concurrently.
            answer = await asyncio.get_running_loop().run_in_executor(
                server.executor, server.predict, payload
            )
        except BadRequest as exc:
            return _json({"detail": str(exc), "field": exc.field}, 422)
        except AlreadyAnswered as exc:
            return _json({"detail": str(exc), "field": "request_id"}, 409)
        except Unavailable as exc:
            return _json({"detail": str(exc)}, 503)
        except ModelFailed as exc:
            return _json({"detail": str(exc)}, 500)
        try:
            return _json(answer)
        except ValueError as exc:  # NaN or Infinity from the model
            return JSONResponse({"detail": f"the model's answer is not JSON: {exc}"}, 500)

    @app.get("/health")
    async def health() -> Response:
        report = server.health()
        return _json(report, 200 if report["status"] != "unavailable" else 503)

    @app.get("/version")
    async def version() -> Response:
        return _json(server.version())

    return app
