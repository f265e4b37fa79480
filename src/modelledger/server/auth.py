"""Checking a bearer token: hashed and looked up in the directory, refused (one generic answer,
whatever the reason) when it is unknown, forged, expired or revoked or its principal disabled;
the failures of each client address are counted and, past a limit, answered 429. With OIDC
configured (server/oidc.py), an identity provider's JWT is accepted too, for a principal the
ledger knows and has not disabled."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from modelledger.core.errors import MledgerError
from modelledger.identity.directory import Principal, Token
from modelledger.ledger.home import Ledger, now
from modelledger.server.caller import Caller
from modelledger.server.oidc import OidcVerifier, looks_like_jwt
from modelledger.server.ratelimit import FailureLimiter
from modelledger.server.store import DirectoryCache

REFUSED = "authentication failed: send a valid API token as 'Authorization: Bearer mlt_…'"
MAX_TOKEN = 16384  # characters: an API token is about 90, an identity provider's JWT a few KB


class Unauthenticated(MledgerError):
    """HTTP 401: the same words for every reason, so a caller learns nothing from them."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


class TooManyFailures(MledgerError):
    """HTTP 429: this address failed to authenticate too often lately."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(
            f"too many failed authentications from this address: try again in {self.retry_after} s"
        )


class Authenticator:
    def __init__(
        self,
        ledger: Ledger,
        failures: int = 20,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        oidc: OidcVerifier | None = None,
        local: tuple[str, Caller] | None = None,
    ) -> None:
        self.oidc = oidc
        self.local = local  # `mledger ui`: (its one secret, the one person it acts for)
        self.directory = DirectoryCache(ledger)
        self.limiter = FailureLimiter(failures, window, clock)

    def caller(self, authorization: str | None, client: str) -> Caller:
        """Who the ``Authorization`` header's token acts for; Unauthenticated or
        TooManyFailures otherwise."""
        wait = self.limiter.retry_after(client)
        if wait is not None:
            raise TooManyFailures(wait)
        secret = _bearer(authorization)
        found = None
        if secret and self.local is not None and hmac.compare_digest(secret, self.local[0]):
            return self.local[1]
        if secret and self.oidc is not None and looks_like_jwt(secret):
            found = self._from_oidc(self.oidc, secret)
        elif secret:
            found = self.directory.current().bearer(secret, now())
        if found is None:
            self.limiter.failed(client)
            raise Unauthenticated()
        token, principal = found
        return Caller(principal, token)

    def _from_oidc(self, oidc: OidcVerifier, secret: str) -> tuple[Token, Principal] | None:
        checked = oidc.token_for(secret)
        if checked is None:
            return None
        name, token = checked
        who = self.directory.current().principals.get(name)
        return (token, who) if who is not None and not who.disabled else None


def _bearer(header: str | None) -> str | None:
    if not header or len(header) > MAX_TOKEN + 7:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
