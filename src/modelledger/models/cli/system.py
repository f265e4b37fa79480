"""``mledger system …``: composite systems pinning models, index snapshots, prompts and tools."""

from __future__ import annotations

import typer

from modelledger.console.options import JsonOpt
from modelledger.console.output import (
    console,
    emit_json,
    id_shown,
    kv_table,
    table,
    when,
)

app = typer.Typer(
    help="Composite systems: one version id for models + index + prompt + tools.",
    no_args_is_help=True,
)


def _ref(ref: str) -> str:
    return id_shown(ref) if ref[:3] in ("mv-", "ds-", "sys") else ref


@app.command()
def create(
    name: str = typer.Argument(..., help="System name, e.g. support-rag."),
    component: list[str] = typer.Option(
        ...,
        "--component",
        "-c",
        help="KEY=REF: a version (mv-…, NAME@N), snapshot (ds-…), system (sys-…) or "
        "external name@revision#sha256 (repeatable).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Pin named components as one system (sys-…); the same components give the same id."""
    from modelledger.ledger.home import open_ledger
    from modelledger.models.systems import create as make

    with open_ledger() as ledger:
        system, created = make(ledger, name, component)
    if as_json:
        emit_json({**system.to_json(), "created": created})
        return
    verb = "created" if created else "already exists as"
    typer.echo(f"{verb} {system.label}  {system.id}")
    for key, ref in sorted(system.components.items()):
        typer.echo(f"  {key} = {ref}")


@app.command()
def show(
    ref: str = typer.Argument(..., help="sys-…, prefix, or NAME@N."), as_json: bool = JsonOpt
) -> None:
    """A system and its pinned components."""
    from modelledger.ledger.home import open_ledger
    from modelledger.models.systems import show as load

    with open_ledger() as ledger:
        found = load(ledger, ref)
    if as_json:
        emit_json(found)
        return
    out = console()
    out.print(
        kv_table(
            [
                ("id", found["id"]),
                ("system", found["label"]),
                ("created", when(found["created_at"])),
                ("by", found["created_by"]),
            ]
        )
    )
    t = table("component", "pinned", "what")
    for key, ref_ in found["components"].items():
        t.add_row(key, _ref(ref_), found["component_labels"].get(key) or "")
    out.print(t)


@app.command()
def diff(
    a: str = typer.Argument(..., help="Older system."),
    b: str = typer.Argument(..., help="Newer system."),
    as_json: bool = JsonOpt,
) -> None:
    """Which components changed between two systems."""
    from modelledger.ledger.home import open_ledger
    from modelledger.models.systems import diff as compare

    with open_ledger() as ledger:
        found = compare(ledger, a, b)
    if as_json:
        emit_json(found)
        return
    out = console()
    out.print(f"{found['a']['label']} → {found['b']['label']}")
    if not (found["changed"] or found["added"] or found["removed"]):
        out.print("  same components")
    for c in found["changed"]:
        before = c["from_label"] or _ref(c["from"])
        after = c["to_label"] or _ref(c["to"])
        out.print(f"  [bold]changed[/] {c['key']}: {before} → {after}")
    for key, ref in found["added"].items():
        out.print(f"  [green]added[/] {key}: {_ref(ref)}")
    for key, ref in found["removed"].items():
        out.print(f"  [red]removed[/] {key}: {_ref(ref)}")
    if found["unchanged"]:
        out.print(f"  unchanged: {', '.join(found['unchanged'])}")


@app.command("list")
def list_(
    name: str | None = typer.Option(None, "--name", help="Only this system."),
    as_json: bool = JsonOpt,
) -> None:
    """Systems, newest first."""
    from modelledger.ledger.home import open_ledger
    from modelledger.models.systems import list_systems

    with open_ledger() as ledger:
        found = list_systems(ledger, name)
    if as_json:
        emit_json([s.to_json() for s in found])
        return
    if not found:
        typer.echo("no systems yet: `mledger system create NAME --component KEY=REF …`")
        return
    t = table("system", "id", "components", "created")
    for s in found:
        t.add_row(
            s.label,
            id_shown(s.id),
            ", ".join(sorted(s.components)),
            when(s.created_at),
        )
    console().print(t)
