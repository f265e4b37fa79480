"""``mledger data …``: content-addressed dataset snapshots."""

from __future__ import annotations

from pathlib import Path

import typer

from modelledger.cli.output import JSON_HELP, console, emit_json, kv_table, table
from modelledger.domain.ids import short

app = typer.Typer(
    help="Snapshot datasets as immutable, content-addressed versions.", no_args_is_help=True
)


@app.command()
def snapshot(
    paths: list[Path] = typer.Argument(..., help="Files and/or folders to snapshot."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset name, e.g. shipments."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Snapshot files or folders; prints the ds- id (same bytes, same id)."""
    from modelledger.services.ledger import open_ledger
    from modelledger.services.snapshot import snapshot as take

    with open_ledger() as ledger:
        snap, created = take(ledger, paths, name)
    if as_json:
        emit_json({**snap.to_json(), "created": created})
        return
    verb = "snapshot" if created else "already snapshotted (same bytes)"
    typer.echo(f"{verb} {snap.name}: {snap.id}  ({snap.file_count} files, {snap.size:,} bytes)")


@app.command()
def show(
    ref: str = typer.Argument(..., help="Snapshot id or unique prefix."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show one snapshot."""
    from modelledger.services.ledger import open_ledger
    from modelledger.services.snapshot import get_snapshot

    with open_ledger() as ledger:
        snap = get_snapshot(ledger, ref)
    if as_json:
        emit_json(snap.to_json())
        return
    console().print(kv_table(list(snap.to_json().items())))


@app.command("list")
def list_(
    name: str | None = typer.Option(None, "--name", help="Only snapshots of this dataset."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List snapshots, newest first."""
    from modelledger.services.ledger import open_ledger
    from modelledger.services.snapshot import list_snapshots

    with open_ledger() as ledger:
        found = list_snapshots(ledger, name)
    if as_json:
        emit_json([s.to_json() for s in found])
        return
    if not found:
        typer.echo("no snapshots yet: `mledger data snapshot PATH --name NAME`")
        return
    t = table("name", "id", "files", "bytes", "created")
    for s in found:
        t.add_row(s.name, short(s.id), str(s.file_count), f"{s.size:,}", s.created_at)
    console().print(t)
