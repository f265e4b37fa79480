"""The registry API's data routes: blobs in and out by sha256, snapshots, eval sets and results,
diff, leakage and deletion impact; see ``server.app`` for the whole API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as InPath
from fastapi.responses import Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from modelledger.core.errors import InvalidInput
from modelledger.ledger.home import Ledger
from modelledger.server import blobs, uploads
from modelledger.server.answers import Authorize
from modelledger.server.answers import json_answer as _json
from modelledger.server.bodies import Body as _Body
from modelledger.server.bodies import CardBody


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


_RAW_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def add_routes(router: APIRouter, caller: Authorize, ledger: Ledger) -> None:
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
        named = (code.get("ref") or code.get("file")) if code else None  # (check_request's)
        req = SnapshotRequest([], body.name, body.card, body.inputs, body.step, named, body.params)
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
