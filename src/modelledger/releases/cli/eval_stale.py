"""``mledger eval stale``: mounted in the ``eval`` group by ``cli/root.py``."""

from __future__ import annotations

from typing import Any

import typer

from modelledger.console.options import JsonOpt
from modelledger.console.output import console, emit_json, id_shown, table, when


def stale(
    eval_set: str = typer.Option(..., "--eval-set", "-e", help="The new eval set."),
    model: str | None = typer.Option(None, "--model", help="Only versions of this model."),
    recent: int = typer.Option(5, "--recent", help="How many newest versions per model to check."),
    as_json: bool = JsonOpt,
) -> None:
    """What still needs scoring on a new eval set: recent versions and everything ever live."""
    from modelledger.ledger.home import open_ledger
    from modelledger.releases.stale import stale as find

    with open_ledger() as ledger:
        found: dict[str, Any] = find(ledger, eval_set, model, recent)
    if as_json:
        emit_json(found)
        return
    if not found["missing"]:
        typer.echo(f"nothing to re-score: all {found['checked']} version(s) have a result")
        return
    t = table("version", "id", "why", "registered")
    for item in found["missing"]:
        t.add_row(item["label"], id_shown(item["id"]), item["why"], when(item["created_at"]))
    console().print(t)
    typer.echo(
        f"{len(found['missing'])} to score: mledger eval record REF --eval-set {found['eval_set']} …"
    )
