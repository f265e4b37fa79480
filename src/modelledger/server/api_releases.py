"""The registry API's release routes: environments and their policy, gate, rehearsal, route and
rollback, promotion requests and their decisions; see ``server.app`` for the whole API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field

from modelledger.core.errors import InvalidInput, NotFound
from modelledger.ledger.home import Ledger
from modelledger.releases.requests import Approval
from modelledger.server import policies, promotions
from modelledger.server.answers import Authorize
from modelledger.server.answers import json_answer as _json
from modelledger.server.bodies import Body as _Body
from modelledger.server.bodies import Signature


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


class RollbackBody(_Body):
    to: str | None = Field(default=None, max_length=300, description="the target; else previous")
    reason: str = Field(min_length=1, max_length=5000)
    key: str = Field(max_length=200, description="your public key, to be sent what to sign")
    statement: dict[str, Any] | None = Field(
        default=None, description="the statement a 409 asked you to sign, signed as 'signed'"
    )
    signed: Signature | None = None


class EnvBody(_Body):
    name: str = Field(min_length=1, max_length=200)


class PolicyBody(_Body):
    policy: dict[str, Any] = Field(description="the gate policy, as `mledger env policy` reads it")
    key: str | None = Field(default=None, max_length=200, description="your public key, to sign")
    signed: Signature | None = None


def add_routes(router: APIRouter, caller: Authorize, ledger: Ledger) -> None:
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
