"""``mledger route …``: split an environment's traffic between pinned versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelledger.console.options import JsonOpt, SigningKeyOpt
from modelledger.console.output import console, emit_json, id_shown, table, when

app = typer.Typer(
    help="Canary, A/B and shadow routing by pinned version, with sticky assignment.",
    no_args_is_help=True,
)


def _print(route: dict[str, Any]) -> None:
    out = console()
    if not route["arms"]:
        out.print(f"nothing is live in {route['env']}")
        return
    title = (
        f"{route['env']}: route revision {route['revision']} (set {when(route['set_at'])} by {route['set_by']})"
        if route["revision"]
        else f"{route['env']}: everything to the live version (no route in force)"
    )
    t = table("arm", "version", "id", "share", title=title)
    for arm in route["arms"]:
        t.add_row(arm["arm"], arm["label"] or "", id_shown(arm["id"]), f"{arm['percent']:g} %")
    for s in route["shadows"]:
        t.add_row("shadow", s["label"] or "", id_shown(s["id"]), "scores all, never returned")
    out.print(t)
    sticky = route["sticky_key"] or "request id"
    out.print(f"sticky key: {sticky}")


@app.command("set")
def set_(
    env: str = typer.Argument(..., help="Environment, e.g. production."),
    arm: list[str] = typer.Option(
        ..., "--arm", help="REF=PCT, e.g. fraud@3=90 (repeatable; the live version must be one)."
    ),
    shadow: list[str] = typer.Option(
        [], "--shadow", help="REF that scores every request silently."
    ),
    sticky_key: str | None = typer.Option(
        None, "--sticky-key", help="Feature that keeps a user on one arm (default: request id)."
    ),
    approver: list[str] = typer.Option(
        [], "--approver", help="Who approved it (a ledger without identities only)."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why (recorded in the event)."),
    key: Path | None = SigningKeyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Route ENV's traffic: shares must sum to 100; canary arms must pass the gate's floors.
    Signed with your key (an approver's for ENV) once the ledger has identities."""
    from modelledger.identity import manage
    from modelledger.ledger.home import open_ledger
    from modelledger.serving.routing import set_route

    with open_ledger() as ledger:
        signer = manage.signing_key(ledger, key)
        route = set_route(ledger, env, arm, approver, shadow, sticky_key, reason, signer)
    if as_json:
        emit_json(route)
    else:
        _print(route)
        typer.echo(
            f"event #{route['event']}"
            if route["event"]
            else "unchanged: this route is already in force"
        )


@app.command()
def show(
    env: str = typer.Argument(..., help="Environment."),
    key: list[str] = typer.Option([], "--key", help="Show which arm this sticky key lands on."),
    as_json: bool = JsonOpt,
) -> None:
    """The route in force (arms, shares, shadows, sticky key); --key shows assignments."""
    from modelledger.ledger.home import read
    from modelledger.remote.session import route as path
    from modelledger.serving.routing import show_json

    route = read(
        path("environments", env, "route"), lambda ledger: show_json(ledger, env, key), {"key": key}
    )
    assigned = route.get("assignments", [])
    if as_json:
        emit_json(route)
        return
    _print(route)
    for a in assigned:
        typer.echo(
            f"  {a['key']!r} → bucket {a['bucket']} → {a['arm']} {a['label'] or id_shown(a['id'])}"
        )
