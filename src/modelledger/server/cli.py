"""``mledger server``: the registry REST API on uvicorn, one process or several."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import typer

from modelledger.core.errors import InvalidInput


def server(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind (0.0.0.0 exposes it to the network)."
    ),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Processes answering on the port."
    ),
    max_upload_mib: float = typer.Option(
        1024.0, "--max-upload-mib", min=0.001, help="Largest artifact upload (413 past it)."
    ),
    auth_failures: int = typer.Option(
        20,
        "--auth-failures",
        min=1,
        help="Failed authentications per address per minute (429 past it).",
    ),
    access_log: bool = typer.Option(False, "--access-log", help="uvicorn's access log on stderr."),
    oidc_issuer: str | None = typer.Option(
        None, "--oidc-issuer", help="Accept this identity provider's JWTs too (its issuer URL)."
    ),
    oidc_audience: str | None = typer.Option(
        None, "--oidc-audience", help="The audience its tokens must name (this server's id)."
    ),
    oidc_jwks: str | None = typer.Option(
        None, "--oidc-jwks", help="Its keys (JWKS URL or file); default: from its discovery."
    ),
    oidc_claim: str = typer.Option(
        "email", "--oidc-claim", help="The claim holding the principal's name in this ledger."
    ),
) -> None:
    """Serve the registry API (/api/v1, OpenAPI at /api/v1/openapi.json) over the ledger found
    as usual: SQLite for one machine, PostgreSQL (MLEDGER_DB_URL) for a team, where several
    servers (replicas) may serve the same ledger. Callers send API tokens (`mledger token
    create`); requests and approvals are signed by the caller's own key, never the server's."""
    import uvicorn

    from modelledger.ledger.home import open_ledger

    with open_ledger(serving=True) as ledger:
        ledger.db  # noqa: B018 - fail here, before binding, when there is no ledger
    if (oidc_issuer is None) != (oidc_audience is None):
        raise InvalidInput("--oidc-issuer and --oidc-audience go together")
    if oidc_issuer is not None:
        oidc = {
            "MLEDGER_SERVER_OIDC_ISSUER": oidc_issuer,
            "MLEDGER_SERVER_OIDC_AUDIENCE": str(oidc_audience),
            "MLEDGER_SERVER_OIDC_JWKS": oidc_jwks or "",
            "MLEDGER_SERVER_OIDC_CLAIM": oidc_claim,
        }
        _oidc_verifier(oidc)  # its keys are read now: a wrong issuer fails here, not later
        os.environ.update(oidc)  # for the workers' app factory
    os.environ["MLEDGER_SERVER_MAX_UPLOAD"] = str(int(max_upload_mib * (1 << 20)))
    os.environ["MLEDGER_SERVER_AUTH_FAILURES"] = str(auth_failures)
    config = uvicorn.Config(
        "modelledger.server.cli:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=access_log,
        server_header=False,
    )
    sock = config.bind_socket()
    bound = sock.getsockname()
    url = f"http://{host}:{bound[1]}/api/v1"
    many = f" with {workers} workers" if workers > 1 else ""
    typer.echo(f"serving the registry API on {url}{many}")
    sys.stdout.flush()
    app = uvicorn.Server(config)
    if workers == 1:
        app.run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[sock]).run()


def app_from_environment() -> object:
    """The app over the ledger this process finds (uvicorn's factory, in every worker)."""
    from modelledger.ledger.home import open_ledger
    from modelledger.server.app import Limits, create_app

    limits = Limits(
        max_upload_bytes=int(os.environ.get("MLEDGER_SERVER_MAX_UPLOAD", 1 << 30)),
        auth_failures=int(os.environ.get("MLEDGER_SERVER_AUTH_FAILURES", 20)),
    )
    return create_app(open_ledger(serving=True), limits, _oidc_verifier(os.environ))


def _oidc_verifier(env: Mapping[str, str]) -> Any:
    """The checker of the OIDC set-up ``env`` holds (None: none), the issuer's keys read."""
    import jwt

    from modelledger.server.oidc import OidcConfig, OidcVerifier

    issuer = env.get("MLEDGER_SERVER_OIDC_ISSUER")
    if not issuer:
        return None
    config = OidcConfig(
        issuer=issuer,
        audience=env["MLEDGER_SERVER_OIDC_AUDIENCE"],
        jwks=env.get("MLEDGER_SERVER_OIDC_JWKS") or None,
        claim=env.get("MLEDGER_SERVER_OIDC_CLAIM", "email"),
    )
    try:
        return OidcVerifier(config)
    except (OSError, ValueError, KeyError, jwt.PyJWTError) as exc:
        raise InvalidInput(f"--oidc: the issuer's keys could not be read: {exc}") from None


def ui(
    port: int = typer.Option(8090, "--port", min=0, max=65535, help="Port to listen on."),
) -> None:
    """Open the web UI over the ledger here, for you alone: on 127.0.0.1, behind a secret that
    this command prints in the address to open. Pages read the ledger as `mledger` does; an
    approval is still a signature by your own key, made in the browser."""
    import secrets

    import uvicorn

    from modelledger.identity.directory import Principal, Token
    from modelledger.identity.roles import Grant
    from modelledger.ledger.home import open_ledger
    from modelledger.server.app import create_app
    from modelledger.server.caller import Caller

    ledger = open_ledger(serving=True)
    ledger.db  # noqa: B018 - fail here, before binding, when there is no ledger
    secret = "mlu_" + secrets.token_urlsafe(24)
    me = Principal(ledger.user, "person", (Grant("admin"),))
    token = Token("local", me.name, ("admin",), "9999-12-31T00:00:00.000000+00:00", "", 0)
    app = create_app(ledger, local=(secret, Caller(me, token)))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
        server_header=False,
    )  # fmt: skip
    sock = config.bind_socket()
    address = f"http://127.0.0.1:{sock.getsockname()[1]}/ui/login?token={secret}"
    typer.echo(f"the web UI for {me.name}: open {address}")
    sys.stdout.flush()
    uvicorn.Server(config).run(sockets=[sock])
