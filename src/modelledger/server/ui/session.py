"""The web UI's session: the caller's API token (or OIDC token) in an HttpOnly, SameSite=Strict
cookie, checked like an ``Authorization`` header on every page; each form carries a token
derived from it (``csrf_of``), so a page of another site cannot post as the caller. Pure."""

from __future__ import annotations

import hashlib
import hmac

COOKIE = "mledger_ui"
MAX_AGE = 8 * 3600  # seconds: a working day; the token's own expiry still applies


def csrf_of(secret: str) -> str:
    """The form token of a session: known only to whoever holds the session's secret."""
    return hmac.new(secret.encode(), b"mledger-ui-form", hashlib.sha256).hexdigest()[:32]


def csrf_ok(secret: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(csrf_of(secret), given)


def cookie_header(secret: str, secure: bool) -> str:
    flags = f"Path=/ui; HttpOnly; SameSite=Strict; Max-Age={MAX_AGE}"
    return f"{COOKIE}={secret}; {flags}" + ("; Secure" if secure else "")


def cleared_cookie() -> str:
    return f"{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"
