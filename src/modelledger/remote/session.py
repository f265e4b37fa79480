"""The registry server (``mledger server``) as the CLI and ``import modelledger as ml`` reach it,
when ``MLEDGER_URL`` names it and ``MLEDGER_TOKEN`` holds an API token (``mledger token
create``). JSON in and out over the standard library's HTTP client (no extra dependency for a
client), artifacts streamed from disk. An error the server answers becomes the error the same
command raises locally, with the server's message, so exit codes and ``error:`` lines match.
Every command imports this module (``refuse_local``): the HTTP client is imported only when a
server is in use.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import IO, Any

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
        """The JSON answer of one request (``body`` as JSON, or as bytes or an iterator of them
        when ``headers`` say what it is); an error answer raised as the error it was."""
        conn, answer = self._open(method, path, body, params, headers)
        text, found = _answer(conn, answer)
        if answer.status >= 400:
            raise remote_error(answer.status, found)
        if found is None and text:
            raise StoreUnavailable(f"{self.url}{path}: the answer is not JSON")
        return found

    def download(self, path: str) -> IO[bytes]:
        """The body of ``GET path`` as a stream, read as it arrives (a blob of any size); closing
        it closes the connection."""
        conn, answer = self._open("GET", path, None, None, {"Accept": "application/octet-stream"})
        if answer.status >= 400:
            raise remote_error(answer.status, _answer(conn, answer)[1])
        return io.BufferedReader(_Stream(conn, answer), 1 << 20)

    def _open(
        self,
        method: str,
        path: str,
        body: Any,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> tuple[Any, Any]:
        import http.client
        import urllib.parse

        parts = urllib.parse.urlsplit(self.url)
        target = parts.path + path
        query = [
            (k, _param(item))
            for k, v in (params or {}).items()
            for item in (v if isinstance(v, list | tuple) else [v])
            if item is not None
        ]
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
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise self._gone(exc) from None

    def _gone(self, exc: Exception) -> StoreUnavailable:  # (no answer at all)
        return StoreUnavailable(
            f"the registry server at {self.url} does not answer ({exc or type(exc).__name__})"
        )


def _answer(conn: Any, answer: Any) -> tuple[bytes, Any]:
    """The whole body, and its JSON (None when it is not JSON); the connection closed."""
    import http.client

    try:
        text: bytes = answer.read()
    except (OSError, http.client.HTTPException) as exc:
        raise StoreUnavailable(f"the answer was cut off ({exc or type(exc).__name__})") from None
    finally:
        conn.close()
    try:
        return text, json.loads(text) if text else None
    except ValueError:
        return text, None


class _Stream(io.RawIOBase):
    """A downloaded body: read as it arrives; a connection lost midway is the server gone."""

    def __init__(self, conn: Any, answer: Any) -> None:
        self._conn, self._answer = conn, answer

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        import http.client

        try:
            return int(self._answer.readinto(buffer))
        except (OSError, http.client.HTTPException) as exc:
            raise StoreUnavailable(
                f"the download was cut off ({exc or type(exc).__name__})"
            ) from None

    def close(self) -> None:
        self._conn.close()
        super().close()


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
