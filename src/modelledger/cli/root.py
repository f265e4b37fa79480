"""The root ``mledger`` command and its error handling."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from modelledger.cli import audit, fsck
from modelledger.console.output import JSON_HELP, emit_json, show_wide
from modelledger.core.errors import MledgerError
from modelledger.data import cli as data
from modelledger.drift import cli as drift
from modelledger.evals import cli as evals
from modelledger.identity import cli as identity
from modelledger.impact import cli as impact
from modelledger.incidents import cli as incidents
from modelledger.models import hooks as model_hooks
from modelledger.models.cli import model, system
from modelledger.predictions import cli as predictions
from modelledger.releases.cli import env, eval_stale, release, requests
from modelledger.reproduce import cli as reproduce_cli
from modelledger.retention import cli as retention
from modelledger.search import cli as search
from modelledger.server import cli as registry_server
from modelledger.serving.cli import route, serve


class _LedgerGroup(TyperGroup):
    """Turns our exceptions into one line on stderr and the documented exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MledgerError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None


def _mount(group: typer.Typer, command: Callable[..., Any], before: str | None = None) -> None:
    """Add a higher capability's command to a lower one's group (which cannot import it),
    placed before the command named ``before`` so that help keeps its order."""
    group.command()(command)
    if before is None:
        return
    added = group.registered_commands.pop()
    names = [
        (c.name or (c.callback.__name__ if c.callback else "")) for c in group.registered_commands
    ]
    group.registered_commands.insert(names.index(before), added)


model_hooks.install("modelledger.drift.hook:ProfileHook")  # drift reference profiles
_mount(data.app, impact.lineage, before="card")
_mount(data.app, impact.affected)
_mount(data.app, retention.erase)
_mount(evals.app, eval_stale.stale)
_mount(model.app, search.search, before="lineage")

app = typer.Typer(
    cls=_LedgerGroup,
    name="mledger",
    help="Model version control and governance: reproducible versions, content-addressed data, "
    "gated promotion and a tamper-evident ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(shown: bool) -> None:
    if shown:
        from modelledger import __version__

        typer.echo(f"mledger {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_version, help="Print the version and exit."
    ),
    wide: bool = typer.Option(
        False, "--wide", help="Show whole ids in tables and text (--json always has them)."
    ),
) -> None:
    show_wide(wide)  # the root's own options; its help is the app's


app.add_typer(model.app, name="model")
app.add_typer(data.app, name="data")
app.add_typer(system.app, name="system")
app.add_typer(evals.app, name="eval")
app.add_typer(env.app, name="env")
app.add_typer(release.gate, name="gate")
app.add_typer(route.app, name="route")
app.command()(release.promote)
app.command()(requests.approve)
app.command()(requests.reject)
app.add_typer(requests.app, name="request")
app.command()(release.rehearse)
app.command()(release.rollback)
app.add_typer(audit.app, name="audit")
app.add_typer(identity.app, name="identity")
app.add_typer(identity.token_app, name="token")
app.command()(fsck.fsck)
app.add_typer(predictions.app, name="predictions")
app.add_typer(predictions.feedback_app, name="feedback")
app.command()(serve.serve)
app.command()(registry_server.server)
app.command()(registry_server.ui)
app.add_typer(retention.app, name="gc")
app.command("reproduce")(reproduce_cli.reproduce)
app.add_typer(drift.app, name="drift")
app.add_typer(incidents.app, name="incident")


@app.command()
def init(
    path: Path = typer.Argument(Path("."), help="Folder to create .mledger/ in."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Metadata database URL, e.g. postgresql+psycopg://user@host/db "
        "(default: $MLEDGER_DB_URL, else SQLite in .mledger/ledger.db).",
    ),
    blobs: str | None = typer.Option(
        None,
        "--blobs",
        help="Blob store URL, e.g. s3://bucket/prefix (default: $MLEDGER_BLOB_URL, else "
        ".mledger/blobs).",
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create a ledger here (or bring an existing one's schema up to date)."""
    from modelledger.ledger.db import safe_url
    from modelledger.ledger.home import init_ledger

    result = init_ledger(path, db, blobs)
    info = {
        "home": str(result.home),
        "db_url": safe_url(result.db_url),
        "blob_url": result.blob_url,
        "created": result.created,
    }
    if result.hides is not None:
        typer.echo(
            f"warning: {result.home} hides the ledger at {result.hides} for commands run in "
            f"{result.home.parent} and below",
            err=True,
        )
    if as_json:
        emit_json(info)
        return
    verb = "Initialised" if result.created else "Ledger already present; schema up to date in"
    typer.echo(f"{verb} {result.home}\n  database: {info['db_url']}\n  blobs:    {result.blob_url}")


@app.command()
def demo(
    directory: Path | None = typer.Option(None, "--dir", help="Where to build the demo ledger."),
    keep: bool = typer.Option(False, "--keep", help="Keep the demo folder afterwards."),
) -> None:
    """Play the end-to-end story on a fresh ledger with small synthetic data."""
    from modelledger.cli.demo.story import run_demo

    run_demo(directory, keep, app)


def _reflow(text: str) -> str:
    """A docstring's paragraphs as single lines: Typer keeps a paragraph's line breaks, so a
    docstring wrapped for the source broke twice at a terminal's width. Paragraphs laid out on
    purpose (indented lines, lists) keep theirs."""
    out = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.splitlines()
        laid_out = any(line[:1].isspace() or line.lstrip()[:2] in ("- ", "* ") for line in lines)
        out.append(paragraph if laid_out else " ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def _reflow_help(group: typer.Typer) -> None:
    for info in group.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            info.help = _reflow(inspect.getdoc(info.callback) or "")
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _reflow_help(sub.typer_instance)


_reflow_help(app)
