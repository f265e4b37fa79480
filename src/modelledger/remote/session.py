"""The registry server (``mledger server``) as the CLI and ``import modelledger as ml`` reach it,
when ``MLEDGER_URL`` names it and ``MLEDGER_TOKEN`` holds an API token (``mledger token
create``). JSON in and out over the standard library's HTTP client (no extra dependency for a
client), artifacts streamed from disk. An error the server answers becomes the error the same
command raises locally, with the server's message, so exit codes and ``error:`` lines match.
Every command imports this module (``refuse_local``): the HTTP client is imported only when a
server is in use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from modelledger.core.errors import (
    AmbiguousReference,
    CheckFailed,
    Conflict,
    ImmutableRecord,
    InvalidInput,
    MledgerError,
    NotAllowed,
    NotFound,
    StoreUnavailable,
)

URL_VAR = "MLEDGER_URL"
TOKEN_VAR = "MLEDGER_TOKEN"
API = "/api/v1"
TIMEOUT = 300.0  # seconds: an upload of a large artifact is one request

# The server's ``error`` kinds (server/app.py), back to the errors they were.
_KINDS: dict[str, type[MledgerError]] = {
    "invalid_input": InvalidInput,
    "not_found": NotFound,
    "ambiguous_reference": AmbiguousReference,
    "conflict": Conflict,
    "immutable_record": ImmutableRecord,
    "check_failed": CheckFailed,
    "not_allowed": NotAllowed,
    "store_unavailable": StoreUnavailable,
}
_BY_STATUS: dict[int, type[MledgerError]] = {
    401: NotAllowed,
    403: NotAllowed,
    404: NotFound,
    409: Conflict,
    413: InvalidInput,
    422: InvalidInput,
    429: StoreUnavailable,
}


def remote_error(status: int, body: Any) -> MledgerError:
    """The error for an answer of ``status`` with JSON ``body`` (``{"error", "kind", …}``)."""
    found = body if isinstance(body, dict) else {}
    message = str(found.get("error") or f"the server answered HTTP {status}")
    if status == 401:
        message += f" (is {TOKEN_VAR} a live token of yours?)"
    kind = _KINDS.get(str(found.get("kind")), _BY_STATUS.get(status, StoreUnavailable))
    error = kind(message)
    error.answer = found  # type: ignore[attr-defined]  # e.g. a refused gate's report
    return error


@dataclass(frozen=True)
class Remote:
    """One server: its API's base URL and the caller's token."""

    url: str  # scheme://host[:port] and the path up to /api/v1
    token: str

    @classmethod
    def from_environment(cls) -> Remote | None:
        """The server the environment names, or None when ``MLEDGER_URL`` is unset."""
        url = os.environ.get(URL_VAR, "").strip()
        if not url:
            return None
        import urllib.parse

        token = os.environ.get(TOKEN_VAR, "").strip()
        if not token:
            raise InvalidInput(
                f"{URL_VAR} is set but {TOKEN_VAR} is not: an admin issues you a token with "
                "`mledger token create NAME` (docs/server.md)"
            )
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"{URL_VAR}={url!r}: give the server's URL, e.g. http://host:8080")
        path = parts.path.rstrip("/")
        if not path.endswith(API):
            path += API
        return cls(f"{parts.scheme}://{parts.netloc}{path}", token)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.send("GET", path, params=params)

    def post(self, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        return self.send("POST", path, body, params=params)

    def put(self, path: str, body: Any) -> Any:
        return self.send("PUT", path, body)

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        import http.client
        import urllib.parse

        parts = urllib.parse.urlsplit(self.url)
        target = parts.path + path
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        if query:
            target += "?" + urllib.parse.urlencode(query)
        sent = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if body is not None and headers is None:
            body = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = kind(parts.netloc, timeout=TIMEOUT)
        try:
            conn.request(method, target, body=body, headers=sent)
            answer = conn.getresponse()
            text = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            raise StoreUnavailable(
                f"the registry server at {self.url} does not answer ({exc or type(exc).__name__})"
            ) from None
        finally:
            conn.close()
        try:
            found = json.loads(text) if text else None
        except ValueError:
            found = None
        if answer.status >= 400:
            raise remote_error(answer.status, found)
        if found is None and text:
            raise StoreUnavailable(f"{self.url}{path}: the answer is not JSON")
        return found


def route(*segments: str) -> str:
    """``/a/b``, each segment quoted: a ref such as ``churn@production`` stays one segment."""
    import urllib.parse

    return "".join("/" + urllib.parse.quote(s, safe="@") for s in segments)


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def refuse_local(what: str = "this command") -> None:
    """Refuse to open a local ledger when a server is configured: a command that does not go
    through the server yet must not quietly act on some other ledger."""
    if os.environ.get(URL_VAR, "").strip():
        raise InvalidInput(
            f"{what} works on a local ledger only, and {URL_VAR} names a registry server: "
            f"unset {URL_VAR} to use the ledger here (docs/server.md lists what works remotely)"
        )
