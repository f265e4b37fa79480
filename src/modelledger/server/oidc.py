"""OIDC bearer tokens: an identity provider's signed JWT accepted in place of an API token.

The server is configured with the issuer, the audience it must be named in, and where the
issuer's public keys are (its JWKS: a URL, by default the one its discovery document names, or
a file). A JWT is accepted only when it is signed by one of those keys with an asymmetric
algorithm (``none`` and HMAC never: a public key must not double as a shared secret), names
that issuer and audience, and is within its validity (``exp`` required, ``nbf`` and ``iat``
honoured with a small leeway). The person is the principal whose name is the configured claim
(``email`` by default): people are still added to the ledger by an admin, with their roles, so
the identity provider says who someone is and the ledger says what they may do. The token's
``scope`` claim narrows the scopes when it holds any of ours (``read write approve admin``).
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from modelledger.core.clock import format_time
from modelledger.identity.directory import Token
from modelledger.identity.roles import SCOPES

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
LEEWAY = 30  # seconds of clock difference with the issuer
FETCH_TIMEOUT = 10


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks: str | None = None  # URL or file; None: the issuer's discovery document says
    claim: str = "email"


class OidcVerifier:
    """Checks JWTs against one issuer's keys; ``token_for`` answers None for anything wrong."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        source = config.jwks or _discovered_jwks(config.issuer)
        self._file: jwt.PyJWKSet | None = None
        self._client: jwt.PyJWKClient | None = None
        if source.startswith(("http://", "https://")):
            self._client = jwt.PyJWKClient(source, cache_keys=True, timeout=FETCH_TIMEOUT)
        else:
            self._file = jwt.PyJWKSet.from_json(Path(source).read_text(encoding="utf-8"))

    def claims(self, token: str) -> dict[str, Any] | None:
        try:
            key = self._key(token)
            found: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.PyJWTError, ValueError, KeyError, TypeError):
            return None
        return found

    def _key(self, token: str) -> Any:
        header = jwt.get_unverified_header(token)
        if header.get("alg") not in ALGORITHMS:
            raise jwt.InvalidAlgorithmError(str(header.get("alg")))
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        assert self._file is not None
        kid = header.get("kid")
        keys = [k for k in self._file.keys if kid is None or k.key_id == kid]
        if len(keys) != 1:
            raise jwt.InvalidKeyError("no single key for this token's kid")
        return keys[0].key

    def token_for(self, token: str) -> tuple[str, Token] | None:
        """(the principal's name, a Token standing for the JWT), or None."""
        claims = self.claims(token)
        if claims is None:
            return None
        name = claims.get(self.config.claim)
        if not isinstance(name, str) or not name:
            return None
        granted = str(claims.get("scope", "")).split()
        scopes = tuple(s for s in SCOPES if s in granted) or tuple(SCOPES)
        expires = format_time(datetime.fromtimestamp(int(claims["exp"]), UTC))
        digest = hashlib.sha256(token.encode()).hexdigest()
        return name, Token(
            id="oidc-" + digest[:12],
            principal=name,
            scopes=scopes,
            expires_at=expires,
            sha256=digest,
            issued_seq=0,
            note=f"OIDC {self.config.issuer}",
        )


def _discovered_jwks(issuer: str) -> str:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as answer:
        found = json.loads(answer.read())
    return str(found["jwks_uri"])


def looks_like_jwt(secret: str) -> bool:
    return secret.count(".") == 2 and not secret.startswith("mlt_")
