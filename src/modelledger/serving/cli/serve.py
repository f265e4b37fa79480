"""``mledger serve ENV``: the prediction server (FastAPI on uvicorn), one worker."""

from __future__ import annotations

import errno
import os
import socket
import sys

import typer

from modelledger.console.output import emit_json


def serve(
    env: str = typer.Argument(..., help="Environment to serve, e.g. production."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind (0.0.0.0 exposes it to the network)."
    ),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port to listen on."),
    poll: float = typer.Option(
        0.5, "--poll", min=0.05, help="Seconds between looks at the environment's pointer."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the start-up line as one JSON document on stdout."
    ),
) -> None:
    """Serve ENV's live version over HTTP: POST /predict, GET /health, GET /version.

    Requests are routed by the environment's route (canaries, shadows, sticky key), checked
    against the version's declared inputs, and every answer is logged to the inference log. A
    promotion or rollback is picked up within about a second, without a restart; a version whose
    artifact no longer matches its hash is never loaded (the previous one keeps serving).
    SIGTERM answers what is in flight and writes every queued prediction before exiting. A
    python: loader's module is imported from the current folder or PYTHONPATH."""
    import uvicorn

    from modelledger.ledger.home import open_ledger
    from modelledger.serving.app import create_app
    from modelledger.serving.hotswap import Server

    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)  # as `python -m` would: a python: factory may live here
    # the port is taken before anything is announced: "serving …" is only printed when it is true
    sock = listen_on(host, port)
    try:
        ledger = open_ledger()
    except BaseException:
        sock.close()
        raise
    try:
        server = Server(ledger, env, poll_interval=poll)
        runtime = server.runtime
        url = f"http://{host}:{sock.getsockname()[1]}"
        if as_json:
            emit_json({"env": env, "url": url, **runtime.to_json()})
        else:
            typer.echo(f"serving {env} ({runtime.describe()}) on {url}")
        sys.stdout.flush()
        try:
            config = uvicorn.Config(create_app(server), log_level="warning")
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            server.close()  # uvicorn ran the lifespan's close already, unless it failed to start
    finally:
        sock.close()
        ledger.close()


def listen_on(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or InvalidInput saying in one line why not."""
    from modelledger.core.errors import InvalidInput

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto named: asyncio sets TCP_NODELAY only on connections whose socket says IPPROTO_TCP;
    # without it (Nagle) every answer on a kept-alive connection waited for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInput(f"port {port} on {host} is in use") from None
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock
