"""``mledger gc``: collect heavy bytes under the retention policy; records are never collected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelledger.console.options import JsonOpt
from modelledger.console.output import console, emit_json, id_shown, table

app = typer.Typer(
    help="Collect the bytes of what the retention policy no longer keeps (records stay).",
    invoke_without_command=True,
)


@app.callback()
def gc(
    ctx: typer.Context,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Say what would go and why; change nothing."
    ),
    show_all: bool = typer.Option(False, "--all", help="List every kept item, not only a count."),
    as_json: bool = JsonOpt,
) -> None:
    """What goes and what stays, by tier, with bytes and why each kept thing is kept; without
    --dry-run, remove the eligible bytes and record a tombstone for each version or snapshot."""
    if ctx.invoked_subcommand is not None:
        return
    from modelledger.console.progress import LazyProgress
    from modelledger.ledger.home import open_ledger
    from modelledger.retention.collect import gc as run

    with open_ledger() as ledger, LazyProgress("collecting", not as_json, unit="items") as bar:
        done = run(ledger, dry_run, bar.advance)
    if as_json:
        emit_json(done.to_json())
        return
    _print(done.to_json(), show_all)


def _print(done: dict[str, Any], show_all: bool) -> None:
    out = console()
    if not done["decisions"]:
        typer.echo("nothing to collect: no version or snapshot is recorded yet")
        return
    verb = "would free" if done["dry_run"] else "freed"
    t = table("tier", "items", "bytes freed" if not done["dry_run"] else "bytes eligible")
    for name, row in sorted(done["tiers"].items()):
        t.add_row(name, f"{row['items']:,}", f"{row['bytes']:,}" if name == "eligible" else "")
    out.print(t)
    for d in done["decisions"]:
        if d["keep"] and not show_all:
            continue
        if d["tier"] == "collected":
            continue
        mark = "keep" if d["keep"] else "go  "
        size = "" if d["keep"] else f" ({d['bytes']:,} bytes)"
        out.print(f"{mark} {d['kind']} {d['label']} {id_shown(d['id'])}: {d['reason']}{size}")
    total = (
        done["tiers"].get("eligible", {}).get("bytes", 0)
        if done["dry_run"]
        else done["freed_bytes"]
    )
    line = f"{verb} {total:,} bytes under policy {done['policy_sha256'][:12]}"
    if done["kept_back_objects"]:
        line += (
            f"; {done['kept_back_objects']} object(s) kept back (in use within the grace period)"
        )
    out.print(line)


@app.command("policy")
def policy(
    file: Path | None = typer.Argument(None, help="The retention policy (YAML); none: show it."),
    as_json: bool = JsonOpt,
) -> None:
    """Show the retention policy in force, or set it from FILE (an event; its sha256 is named by
    every collection)."""
    from modelledger.core.parsing import load_mapping
    from modelledger.ledger.home import open_ledger
    from modelledger.retention.collect import set_policy
    from modelledger.retention.facts import current_policy
    from modelledger.retention.policy import parse_policy

    with open_ledger() as ledger:
        changed = None
        if file is not None:
            changed = set_policy(ledger, parse_policy(load_mapping(file, "FILE")))
        found, seq = current_policy(ledger)
    if as_json:
        emit_json(
            {"policy": found.document, "sha256": found.sha256, "event": seq, "changed": changed}
        )
        return
    import yaml

    if changed is not None:
        typer.echo("retention policy set" if changed else "retention policy unchanged")
    source = f"event #{seq}" if seq else "the default (none set)"
    typer.echo(f"# retention policy {found.sha256[:12]}, {source}")
    typer.echo(yaml.safe_dump(found.document, sort_keys=False).rstrip())


def erase(
    snapshots: list[str] = typer.Argument(None, help="Snapshots to erase (ids or prefixes)."),
    record: str | None = typer.Option(
        None, "--record", help="COLUMN=VALUE: erase the files holding a person's record."
    ),
    within: list[str] = typer.Option([], "--in", help="Only scan these snapshots (repeatable)."),
    reason: str = typer.Option("", "--reason", help='Why, e.g. "deletion request #1234".'),
    basis: str = typer.Option("", "--basis", help='The legal basis, e.g. "GDPR Art. 17".'),
    requested_on: str | None = typer.Option(
        None, "--requested-on", help="When the request was made (YYYY-MM-DD)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would go; change nothing."),
    yes: bool = typer.Option(False, "--yes", help="Erase without asking (it cannot be undone)."),
    as_json: bool = JsonOpt,
) -> None:
    """Remove a snapshot's bytes, or the files holding a record, for a deletion request. The
    records stay, each with an erasure event; models trained on it are flagged for retraining."""
    import sys

    from modelledger.ledger.home import open_ledger
    from modelledger.retention.erase import Request, plan_erasure
    from modelledger.retention.erase import erase as carry_out

    req = Request(list(snapshots or []), record, within, reason, basis, requested_on)
    with open_ledger() as ledger:
        plan = plan_erasure(ledger, req)
        if not dry_run and plan["snapshots"] and not yes:
            if not sys.stdin.isatty():
                from modelledger.core.errors import InvalidInput

                raise InvalidInput("erasing cannot be undone: pass --yes (or --dry-run to look)")
            _print_erasure(plan)
            typer.confirm("erase these bytes for good?", abort=True)
        done = plan if dry_run else carry_out(ledger, req)
    if as_json:
        emit_json({**done, "dry_run": dry_run})
        return
    _print_erasure(done)


def _print_erasure(done: dict[str, Any]) -> None:
    out = console()
    if not done["snapshots"]:
        typer.echo("no snapshot holds the record: nothing to erase")
        return
    t = table("snapshot", "name", "why", "bytes", wrap=("why",))
    for s in done["snapshots"]:
        why = s["why"] + (" (erased before)" if s["erased_before"] else "")
        t.add_row(id_shown(s["id"]), s["name"], why, f"{s['bytes']:,}")
    out.print(t)
    for sid in done["made_after_request"]:
        out.print(f"[bold red]made after the request[/]: {id_shown(sid)} still held the record")
    for d in done["derived"]:
        out.print(f"derived from erased data, check it: {d['name']} {id_shown(d['id'])}")
    for m in done["models"]:
        out.print(f"retrain: {m['label'] or id_shown(m['id'])} ({m['why']})")
    for e in done["serving"]:
        out.print(f"[bold]serving now[/]: {e['env']} runs {e['label'] or id_shown(e['id'])}")
    if "freed_bytes" in done:
        out.print(f"erased: {done['freed_bytes']:,} bytes left the store")
    else:
        out.print(f"would erase {done['bytes']:,} bytes (nothing changed: --dry-run)")
