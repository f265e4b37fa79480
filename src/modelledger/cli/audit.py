"""``mledger audit …``: the tamper-evident event ledger."""

from __future__ import annotations

import typer

from modelledger.console.options import SinceOpt, UntilOpt
from modelledger.console.output import JSON_HELP, console, emit_json, id_shown, table, when
from modelledger.predictions.cli import audit_prediction

app = typer.Typer(help="Read and verify the hash-chained event ledger.", no_args_is_help=True)
app.command("prediction")(audit_prediction)


@app.command()
def log(
    subject: str | None = typer.Option(
        None, "--subject", help="Only events about this: an id or prefix, NAME@N, NAME@ENV."
    ),
    kind: str | None = typer.Option(
        None, "--kind", help="Only events of this kind, e.g. model.registered, promotion."
    ),
    env: str | None = typer.Option(
        None, "--env", help="Only events about this environment (promotions, rollbacks, …)."
    ),
    actor: str | None = typer.Option(None, "--actor", help="Only events by this person."),
    since: str | None = SinceOpt,
    until: str | None = UntilOpt,
    limit: int = typer.Option(50, "--limit", min=1, help="The newest N events."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List events, oldest of the newest N first."""
    from modelledger.core.errors import InvalidInput
    from modelledger.ledger.audit import EventQuery
    from modelledger.ledger.audit import log as read_log
    from modelledger.ledger.home import open_ledger
    from modelledger.models.resolve import resolve_subject

    if subject and env:
        raise InvalidInput("give --subject or --env, not both")
    query = EventQuery(subject or env, kind, actor, since, until, limit)
    with open_ledger() as ledger:
        found = read_log(ledger, query, resolve=resolve_subject)
    if as_json:
        emit_json([e.to_json() for e in found.events])
        return
    if not found.events:
        typer.echo(
            f"no events match (the ledger holds {found.total})" if found.total else "no events yet"
        )
        return
    t = table("seq", "at", "kind", "subject", "actor", "hash")
    for e in found.events:
        t.add_row(str(e.seq), when(e.at), e.kind, id_shown(e.subject), e.actor, e.hash[:8])
    console().print(t)


@app.command()
def verify(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Recompute the hash chain; name the first broken link (exit 1)."""
    from modelledger.ledger.audit import verify as verify_chain
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        check = verify_chain(ledger)
    if as_json:
        broken = {"seq": check.broken.seq, "reason": check.broken.reason} if check.broken else None
        emit_json({"ok": check.ok, "checked": check.checked, "head": check.head, "broken": broken})
    elif check.ok:
        typer.echo(f"ok: {check.checked} events, chain intact, head {check.head}")
    else:
        assert check.broken is not None
        typer.echo(
            f"BROKEN at event {check.broken.seq}: {check.broken.reason} "
            f"({check.checked} events before it verify)",
            err=True,
        )
    if not check.ok:
        raise typer.Exit(1)
