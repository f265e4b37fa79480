"""OIDC bearer tokens on the registry API: an identity provider's JWT for a person the ledger knows
is accepted with that person's roles; every forgery, confusion or stale token is a 401."""

from __future__ import annotations

import http.server
import json
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from modelledger.identity import manage
from modelledger.server.app import Limits, create_app
from modelledger.server.oidc import OidcConfig, OidcVerifier
from tests.people import key_of
from tests.server.conftest import make_team

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ISSUER = "https://idp.example.com"
AUDIENCE = "mledger-registry"


def jwks_of(*keys: tuple[str, Any]) -> dict[str, Any]:
    out = []
    for kid, private in keys:
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[_alg(private)].to_jwk(
            private.public_key()
        ))  # fmt: skip
        out.append({**jwk, "kid": kid, "use": "sig"})
    return {"keys": out}


def _alg(private: Any) -> str:
    return "ES256" if isinstance(private, ec.EllipticCurvePrivateKey) else "RS256"


@pytest.fixture
def idp(ledger, project, tmp_path) -> Iterator[dict[str, Any]]:
    make_team(ledger, project)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(jwks_of(("r1", rsa_key), ("e1", ec_key))))
    config = OidcConfig(ISSUER, AUDIENCE, str(jwks), claim="preferred_username")
    app = create_app(ledger, Limits(auth_failures=1000), OidcVerifier(config))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"client": client, "rsa": rsa_key, "ec": ec_key, "jwks": jwks}


def token(private: Any, kid: str = "r1", alg: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, private, algorithm=alg or _alg(private), headers={"kid": kid})


def whoami(idp: dict[str, Any], bearer: str) -> Any:
    return idp["client"].get("/api/v1/whoami", headers={"Authorization": f"Bearer {bearer}"})


def test_a_jwt_for_a_known_person_acts_with_their_roles(idp, ledger, project):
    got = whoami(idp, token(idp["rsa"], preferred_username="alice"))
    assert got.status_code == 200, got.text
    assert got.json()["name"] == "alice" and set(got.json()["scopes"]) == {
        "read", "write", "approve", "admin",
    }  # fmt: skip
    ec_token = token(idp["ec"], kid="e1", preferred_username="bob", scope="openid read")
    got = whoami(idp, ec_token)
    assert got.status_code == 200 and got.json()["scopes"] == ["read"]
    # the scope claim narrows: a read-only JWT may not register, whatever bob's roles
    refused = idp["client"].post(
        "/api/v1/versions", headers={"Authorization": f"Bearer {ec_token}"}, content=b"x",
        params={"metadata": json.dumps({"name": "m", "code_ref": "r", "lock": "a==1\n"})},
    )  # fmt: skip
    assert refused.status_code == 403
    # rita is a reader in the ledger: a JWT cannot make her more
    rita = token(idp["rsa"], preferred_username="rita")
    draft = idp["client"].post(
        "/api/v1/requests/draft",
        headers={"Authorization": f"Bearer {rita}"},
        json={"ref": "m@1", "env": "production"},
    )
    assert draft.status_code == 403 and "rita holds no writer role" in draft.json()["error"]


def test_forged_confused_and_stale_jwts_are_refused(idp, ledger, project):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = token(idp["rsa"], preferred_username="alice")
    head, _, sig = good.split(".")
    tampered_payload = jwt.utils.base64url_encode(
        json.dumps({**jwt.decode(good, options={"verify_signature": False}), "preferred_username": "carol"}).encode()
    ).decode()  # fmt: skip
    public_pem = (
        idp["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    now = int(time.time())
    bad = {
        "another key": token(other, preferred_username="alice"),
        "an unknown kid": token(idp["rsa"], kid="zz", preferred_username="alice"),
        "the wrong kid's key": token(idp["rsa"], kid="e1", preferred_username="alice"),
        "another issuer": token(idp["rsa"], iss="https://evil.example", preferred_username="alice"),
        "another audience": token(idp["rsa"], aud="someone-else", preferred_username="alice"),
        "expired": token(idp["rsa"], exp=now - 3600, iat=now - 7200, preferred_username="alice"),
        "not yet valid": token(idp["rsa"], nbf=now + 3600, preferred_username="alice"),
        "no expiry": token(idp["rsa"], exp=None, preferred_username="alice"),
        "no name claim": token(idp["rsa"], sub="alice"),
        "an unknown person": token(idp["rsa"], preferred_username="mallory"),
        "a tampered payload": f"{head}.{tampered_payload}.{sig}",
        "alg none": jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "preferred_username": "alice"},
            None,
            algorithm="none",
        ),
        "HS256 keyed by the public key": _hs256(public_pem, now),
        "garbage": "a.b.c",
    }
    for why, bearer in bad.items():
        got = whoami(idp, bearer)
        assert got.status_code == 401, (why, got.status_code, got.text)
    manage.save(ledger, key_of(project, "carol"), "alice", disabled=True)
    assert whoami(idp, token(idp["rsa"], preferred_username="alice")).status_code == 401
    # the ledger's own API tokens still work beside OIDC
    assert whoami(idp, "mlt_0000000000000000_nope").status_code == 401


def _hs256(secret: bytes, now: int) -> str:
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": "r1"}).encode())
    body = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "preferred_username": "alice"}
    payload = jwt.utils.base64url_encode(json.dumps(body).encode())
    import hashlib
    import hmac

    signing_input = header + b"." + payload
    sig = jwt.utils.base64url_encode(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + sig).decode()


def test_keys_found_through_the_issuers_discovery_document(ledger, project, tmp_path):
    make_team(ledger, project)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    served = {"/jwks": jwks_of(("r1", key))}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(served.get(self.path, {})).encode()
            self.send_response(200 if self.path in served else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = f"http://127.0.0.1:{httpd.server_address[1]}"
    served["/.well-known/openid-configuration"] = {"issuer": issuer, "jwks_uri": issuer + "/jwks"}
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        config = OidcConfig(issuer, AUDIENCE, None, "preferred_username")
        app = create_app(ledger, Limits(), OidcVerifier(config))
        with TestClient(app, raise_server_exceptions=False) as client:
            now = int(time.time())
            bearer = jwt.encode(
                {"iss": issuer, "aud": AUDIENCE, "exp": now + 60, "preferred_username": "wes"},
                key,
                algorithm="RS256",
                headers={"kid": "r1"},
            )
            got = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {bearer}"})
            assert got.status_code == 200 and got.json()["name"] == "wes"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_server_refuses_to_start_on_a_half_or_unreadable_oidc_setup(ledger_cli, tmp_path):
    alone = ledger_cli("server", "--oidc-issuer", ISSUER, code=2)
    assert "--oidc-issuer and --oidc-audience go together" in alone.stderr
    missing = ledger_cli(
        "server", "--oidc-issuer", ISSUER, "--oidc-audience", AUDIENCE,
        "--oidc-jwks", str(tmp_path / "nope.json"), code=2,
    )  # fmt: skip
    assert "the issuer's keys could not be read" in missing.stderr
