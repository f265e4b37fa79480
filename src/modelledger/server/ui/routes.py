"""The web UI's pages under ``/ui``, served by ``mledger server`` (and ``mledger ui``).

Every page needs a signed-in reader (the caller's token in a cookie, ``session``); a decision
on a promotion request is a signature by the approver's own key, made in the browser (WebCrypto
Ed25519, ``static/sign.js``) over the statement the page shows, and recorded by the same use
case as ``POST /api/v1/requests/{id}/approve``: nothing the UI can do that the API refuses.
Pages are rendered on the server; the only script is the signing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from modelledger.core.canonical import canonical_json
from modelledger.core.errors import MledgerError, NotAllowed, NotFound
from modelledger.ledger.home import Ledger, now
from modelledger.server.actor import acting_as
from modelledger.server.auth import Authenticator, TooManyFailures, Unauthenticated
from modelledger.server.caller import Caller
from modelledger.server.ui import pages, session

_HERE = Path(__file__).parent
_STATIC = {"ui.css": "text/css", "sign.js": "text/javascript"}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _templates() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(default=True),
    )
    env.filters["short"] = lambda s: s[:15] if isinstance(s, str) and "-" in s[:4] else s
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False)
    return env


class _SignIn(Exception):
    """No session, or one whose token no longer works: to the sign-in page."""


def ui_router(ledger: Ledger, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/ui", include_in_schema=False)
    templates = _templates()

    def signed_in(request: Request) -> tuple[Caller, Ledger, str]:
        secret = request.cookies.get(session.COOKIE)
        if not secret:
            raise _SignIn()
        client = request.client.host if request.client else "unknown"
        try:
            who = auth.caller(f"Bearer {secret}", client)
        except Unauthenticated:
            raise _SignIn() from None
        who.require("reader")
        return who, acting_as(ledger, who.name), secret

    def html(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = templates.get_template(name).render(**context)
        return HTMLResponse(body, status, headers=HEADERS)

    def page(fn: Callable[..., Response]) -> Callable[..., Response]:
        """A page: signed-in callers only; errors as pages, not JSON."""

        @functools.wraps(fn)
        def run(request: Request, *args: Any, **kwargs: Any) -> Response:
            try:
                return fn(request, *args, **kwargs)
            except _SignIn:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/ui/login?next={_quote(target)}", 303, headers=HEADERS)
            except TooManyFailures as exc:
                return html("error.html", 429, who=None, error=str(exc), csrf="")
            except MledgerError as exc:
                status = (
                    403
                    if isinstance(exc, NotAllowed)
                    else 404
                    if isinstance(exc, NotFound)
                    else 422
                )
                return html("error.html", status, who=None, error=str(exc), csrf="")

        return run

    def deciding(request: Request, request_id: str, csrf: str) -> tuple[Caller, Ledger, str, Any]:
        """A decision's form: from this session, by an approver for the request's environment."""
        from modelledger.releases.workflow import show

        who, view, secret = signed_in(request)
        if not session.csrf_ok(secret, csrf):
            raise NotAllowed("that form is not from this session")
        state = show(view, request_id)
        who.require("approver", state.request.env)
        return who, view, secret, state

    def ctx(who: Caller, secret: str, **more: Any) -> dict[str, Any]:
        return {"who": who, "csrf": session.csrf_of(secret), **more}

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in _STATIC:
            return Response(status_code=404)
        return FileResponse(_HERE / "static" / name, media_type=_STATIC[name])

    @router.get("/login")
    def login_form(
        request: Request,
        next: str = Query("/ui/", max_length=2000),
        token: str | None = Query(None, max_length=5000),
    ) -> Response:
        if token is not None and auth.local is not None:  # the address `mledger ui` printed
            return sign_in(request, token, next)
        return html("login.html", who=None, csrf="", next=_local(next), error=None)

    @router.post("/login")
    def login(
        request: Request,
        token: str = Form(max_length=5000),
        next: str = Form("/ui/", max_length=2000),
    ) -> Response:
        return sign_in(request, token, next)

    def sign_in(request: Request, token: str, next: str) -> Response:
        client = request.client.host if request.client else "unknown"
        secret = token.strip()
        try:
            auth.caller(f"Bearer {secret}", client)
        except (Unauthenticated, TooManyFailures) as exc:
            error = str(exc) if isinstance(exc, TooManyFailures) else "that token is not a live one"
            return html("login.html", 401, who=None, csrf="", next=_local(next), error=error)
        headers = {
            **HEADERS,
            "Set-Cookie": session.cookie_header(secret, request.url.scheme == "https"),
        }
        return RedirectResponse(_local(next), 303, headers=headers)

    @router.post("/logout")
    @page
    def logout(request: Request, csrf: str = Form("")) -> Response:
        _, _, secret = signed_in(request)
        if not session.csrf_ok(secret, csrf):
            raise NotAllowed("that form is not from this session")
        return RedirectResponse(
            "/ui/login", 303, headers={**HEADERS, "Set-Cookie": session.cleared_cookie()}
        )

    @router.get("/")
    @page
    def home(request: Request) -> Response:
        who, view, secret = signed_in(request)
        return html("home.html", **ctx(who, secret, **pages.home(view)))

    @router.get("/find")
    @page
    def find(request: Request, q: str = Query("", max_length=300)) -> Response:
        signed_in(request)
        return RedirectResponse(pages.where(q), 303, headers=HEADERS)

    @router.get("/versions/{ref}")
    @page
    def version(request: Request, ref: str) -> Response:
        who, view, secret = signed_in(request)
        return html("version.html", **ctx(who, secret, **pages.version(view, ref)))

    @router.get("/snapshots/{ref}")
    @page
    def snapshot(request: Request, ref: str) -> Response:
        who, view, secret = signed_in(request)
        return html("snapshot.html", **ctx(who, secret, **pages.snapshot(view, ref)))

    @router.get("/diff")
    @page
    def diff(
        request: Request,
        a: str = Query(max_length=300),
        b: str = Query(max_length=300),
        key: str | None = Query(None, max_length=300),
    ) -> Response:
        who, view, secret = signed_in(request)
        return html("diff.html", **ctx(who, secret, **pages.diff(view, a, b, key)))

    @router.get("/environments/{env}")
    @page
    def environment(
        request: Request, env: str, at: str | None = Query(None, max_length=40)
    ) -> Response:
        who, view, secret = signed_in(request)
        return html(
            "environment.html", **ctx(who, secret, **pages.environment(view, env, at or None))
        )

    @router.get("/requests")
    @page
    def requests(request: Request, everything: bool = Query(False, alias="all")) -> Response:
        who, view, secret = signed_in(request)
        found = pages.requests(view, everything)
        return html("requests.html", **ctx(who, secret, requests=found, everything=everything))

    @router.get("/requests/{request_id}")
    @page
    def one_request(request: Request, request_id: str) -> Response:
        who, view, secret = signed_in(request)
        r = pages.request(view, request_id)
        may = who.may("approver", r["env"])
        return html("request.html", **ctx(who, secret, r=r, may_decide=may, sign=None, done=None))

    @router.post("/requests/{request_id}/sign")
    @page
    def to_sign(
        request: Request,
        request_id: str,
        decision: str = Form(pattern="^(approve|reject)$"),
        reason: str = Form("", max_length=5000),
        csrf: str = Form(""),
    ) -> Response:
        """The statement to sign for this decision, shown before the key signs it."""
        from modelledger.releases.requests import Approval

        who, _, secret, state = deciding(request, request_id, csrf)
        approval = Approval(state.request.id, decision, reason or None, who.name, now())
        statement = canonical_json(approval.statement(state.request)).decode()
        sign = {"decision": decision, "reason": reason, "at": approval.at, "statement": statement}
        r = state.to_json()
        return html("request.html", **ctx(who, secret, r=r, may_decide=True, sign=sign, done=None))

    @router.post("/requests/{request_id}/decide")
    @page
    def decide(
        request: Request,
        request_id: str,
        decision: str = Form(pattern="^(approve|reject)$"),
        reason: str = Form("", max_length=5000),
        at: str = Form(max_length=40),
        key: str = Form(max_length=200),
        sig: str = Form(max_length=200),
        csrf: str = Form(""),
    ) -> Response:
        from modelledger.releases.requests import Approval
        from modelledger.releases.workflow import record_decision, show

        who, view, secret, state = deciding(request, request_id, csrf)
        signed = {"key": key, "sig": sig}
        approval = Approval(state.request.id, decision, reason or None, who.name, at, signed)
        record_decision(view, approval, who.name)
        after = show(view, request_id).to_json()
        return html(
            "request.html", **ctx(who, secret, r=after, may_decide=False, sign=None, done=decision)
        )

    @router.get("/audit")
    @page
    def audit(
        request: Request,
        subject: str | None = Query(None, max_length=300),
        kind: str | None = Query(None, max_length=100),
        actor: str | None = Query(None, max_length=200),
        since: str | None = Query(None, max_length=40),
        until: str | None = Query(None, max_length=40),
        limit: int = Query(100, ge=1, le=1000),
    ) -> Response:
        who, view, secret = signed_in(request)
        filters = {"subject": subject, "kind": kind, "actor": actor, "since": since, "until": until}
        filters = {k: (v or None) for k, v in filters.items()}
        return html("audit.html", **ctx(who, secret, **pages.audit(view, filters, limit)))

    @router.get("/drift/{env}")
    @page
    def drift(request: Request, env: str) -> Response:
        who, view, secret = signed_in(request)
        return html("drift.html", **ctx(who, secret, **pages.drift(view, env)))

    @router.get("/drift/{env}/report")
    @page
    def drift_report(
        request: Request, env: str, window: str = Query("24h", max_length=20)
    ) -> Response:
        """The statistics over the window, computed on asking: as slow as `drift check`."""
        _, view, _ = signed_in(request)
        body = pages.drift_report(view, env, window)
        # the report is self-contained: its styles are inline, it runs no script
        policy = HEADERS["Content-Security-Policy"].replace(
            "style-src 'self'", "style-src 'unsafe-inline'"
        )
        return HTMLResponse(body, headers={**HEADERS, "Content-Security-Policy": policy})

    @router.get("/predictions/{request_id}")
    @page
    def prediction(request: Request, request_id: str) -> Response:
        who, view, secret = signed_in(request)
        found = pages.prediction(view, request_id)
        return html("prediction.html", **ctx(who, secret, p=found, request_id=request_id))

    return router


def _local(target: str) -> str:
    """Only a path of this UI is a place to go after signing in (no open redirect)."""
    return target if target.startswith("/ui/") and not target.startswith("//") else "/ui/"


def _quote(text: str) -> str:
    import urllib.parse

    return urllib.parse.quote(text, safe="/")
