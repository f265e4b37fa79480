"""``mledger serve ENV``: the prediction server (FastAPI on uvicorn), one process or several."""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from modelledger.console.output import to_json_text

if TYPE_CHECKING:
    from modelledger.serving.limits import Limits


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
    max_body_mib: float = typer.Option(
        16.0, "--max-body-mib", min=0.001, help="Largest request body accepted (413 past it)."
    ),
    max_instances: int = typer.Option(
        10_000, "--max-instances", min=1, help="Most instances in one batch request (422 past it)."
    ),
    max_depth: int = typer.Option(
        64, "--max-depth", min=2, help="Deepest nesting of a JSON body (422 past it)."
    ),
    access_log: bool = typer.Option(
        False, "--access-log", help="One JSON line per /predict request on stderr."
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
    from modelledger.serving.limits import Limits, MiB

    limits = Limits(int(max_body_mib * MiB), max_depth, max_instances)
    options = WorkerOptions(env, poll, journal, as_json, workers, limits, access_log)
    # the port is taken before anything is announced: "serving …" is only printed when it is true
    sock = listen_on(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    try:
        if workers == 1:
            run_worker(options, sock, url, _echo)
            return
        from modelledger.serving.cli.workers import supervise

        def worker(ready_fd: int) -> int:
            def ready(line: str) -> None:
                with contextlib.suppress(OSError):  # a restarted worker's line goes nowhere
                    os.write(ready_fd, line.encode("utf-8"))
                os.close(ready_fd)

            run_worker(options, sock, url, ready)
            return 0

        status = supervise(workers, sock, worker, lambda line: _echo(line.decode("utf-8")))
        if status:
            raise typer.Exit(status)
    finally:
        sock.close()


def _echo(line: str) -> None:
    typer.echo(line)
    sys.stdout.flush()


@dataclass(frozen=True)
class WorkerOptions:
    env: str
    poll: float
    journal: Path | None
    as_json: bool
    workers: int
    limits: Limits
    access_log: bool


def run_worker(
    o: WorkerOptions, sock: socket.socket, url: str, ready: Callable[[str], None]
) -> None:
    """One serving process: its ledger connection, server and journal, uvicorn on ``sock``."""
    import logging

    import uvicorn

    from modelledger.ledger.home import open_ledger
    from modelledger.predictions.durable_log import DurableLog
    from modelledger.serving.app import create_app
    from modelledger.serving.hotswap import Server
    from modelledger.serving.metrics import ServingMetrics

    if o.access_log:
        handler = logging.StreamHandler(sys.stderr)
        access = logging.getLogger("modelledger.serving.access")
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
    ledger = open_ledger()
    try:
        metrics = ServingMetrics(o.env)
        log = DurableLog(ledger, o.env, directory=o.journal, on_fsync=metrics.fsync)
        try:
            server = Server(
                ledger,
                o.env,
                log=log,
                metrics=metrics,
                poll_interval=o.poll,
            )
        except BaseException:
            log.close()
            raise
        try:
            runtime = server.runtime
            if o.as_json:
                ready(
                    to_json_text(
                        {"env": o.env, "url": url, "workers": o.workers, **runtime.to_json()}
                    )
                )
            else:
                many = f" with {o.workers} workers" if o.workers > 1 else ""
                ready(f"serving {o.env} ({runtime.describe()}) on {url}{many}")
            config = uvicorn.Config(create_app(server, o.limits, o.access_log), log_level="warning")
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
