"""``mledger serve ENV``: the prediction server (FastAPI on uvicorn), one process or several."""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import typer

from modelledger.console.output import to_json_text


def serve(
    env: str = typer.Argument(..., help="Environment to serve, e.g. production."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind (0.0.0.0 exposes it to the network)."
    ),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Processes answering on the port (one id, one answer)."
    ),
    poll: float = typer.Option(
        0.5, "--poll", min=0.05, help="Seconds between looks at the environment's pointer."
    ),
    journal: Path | None = typer.Option(
        None,
        "--journal",
        help="Folder of the serving journal (default: the ledger's .mledger/journal).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the start-up line as one JSON document on stdout."
    ),
) -> None:
    """Serve ENV's live version over HTTP: POST /predict, GET /health, GET /version.

    Requests are routed by the environment's route (canaries, shadows, sticky key), checked
    against the version's declared inputs, and every answer is durable in a local journal
    before it is returned; the journal drains into the inference log in the background (while
    the ledger is locked or down the server keeps answering, and /health says degraded). A
    promotion or rollback is picked up within about a second, without a restart; a version whose
    artifact no longer matches its hash is never loaded (the previous one keeps serving).
    SIGTERM answers what is in flight and drains the journal before exiting; after a crash the
    next start replays it. A python: loader's module is imported from the current folder or
    PYTHONPATH."""
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)  # as `python -m` would: a python: factory may live here
    # the port is taken before anything is announced: "serving …" is only printed when it is true
    sock = listen_on(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    try:
        if workers == 1:
            run_worker(env, sock, url, poll, journal, as_json, _echo, workers)
            return
        from modelledger.serving.cli.workers import supervise

        def worker(ready_fd: int) -> int:
            def ready(line: str) -> None:
                with contextlib.suppress(OSError):  # a restarted worker's line goes nowhere
                    os.write(ready_fd, line.encode("utf-8"))
                os.close(ready_fd)

            run_worker(env, sock, url, poll, journal, as_json, ready, workers)
            return 0

        status = supervise(workers, sock, worker, lambda line: _echo(line.decode("utf-8")))
        if status:
            raise typer.Exit(status)
    finally:
        sock.close()


def _echo(line: str) -> None:
    typer.echo(line)
    sys.stdout.flush()


def run_worker(
    env: str,
    sock: socket.socket,
    url: str,
    poll: float,
    journal: Path | None,
    as_json: bool,
    ready: Callable[[str], None],
    workers: int,
) -> None:
    """One serving process: its ledger connection, server and journal, uvicorn on ``sock``."""
    import uvicorn

    from modelledger.ledger.home import open_ledger
    from modelledger.predictions.durable_log import DurableLog
    from modelledger.serving.app import create_app
    from modelledger.serving.hotswap import Server

    ledger = open_ledger()
    try:
        log = DurableLog(ledger, env, directory=journal)
        try:
            server = Server(ledger, env, log=log, poll_interval=poll)
        except BaseException:
            log.close()
            raise
        try:
            runtime = server.runtime
            if as_json:
                ready(
                    to_json_text({"env": env, "url": url, "workers": workers, **runtime.to_json()})
                )
            else:
                many = f" with {workers} workers" if workers > 1 else ""
                ready(f"serving {env} ({runtime.describe()}) on {url}{many}")
            config = uvicorn.Config(create_app(server), log_level="warning")
            app = uvicorn.Server(config)
            # what start-up made (libraries, the model) lives as long as the process: a full
            # collection walking it on the request path would be a pause in the answers
            gc.collect()
            gc.freeze()
            app.run(sockets=[sock])
        finally:
            server.close()  # uvicorn ran the lifespan's close already, unless it failed to start
    finally:
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
