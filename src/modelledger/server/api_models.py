"""The registry API's model routes: versions (read, register, labels, lineage, verify, card)
and search; see ``server.app`` for the whole API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from modelledger.ledger.home import Ledger
from modelledger.server import uploads
from modelledger.server.answers import Authorize
from modelledger.server.answers import json_answer as _json
from modelledger.server.bodies import Body as _Body
from modelledger.server.bodies import CardBody


class TagsBody(_Body):
    set: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list, max_length=1000)


class DescriptionBody(_Body):
    text: str | None = Field(default=None, max_length=100_000, description="null: remove it")


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


def add_routes(router: APIRouter, caller: Authorize, ledger: Ledger) -> None:
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
