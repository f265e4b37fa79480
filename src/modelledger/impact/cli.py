"""The impact questions, asked of data: ``mledger data lineage`` (where a snapshot came from and
what used it) and ``mledger data affected`` (deletion impact). The commands live here, beside
the queries that cross every capability; ``cli/root.py`` mounts them in the ``data`` group."""

from __future__ import annotations

import typer

from modelledger.console.output import JSON_HELP, console, emit_json, folded, id_shown, table, tree


def lineage(
    ref: str = typer.Argument(..., help="Snapshot id or unique prefix."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Where a snapshot came from, what was derived from it, and which models trained on it."""
    from modelledger.impact.lineage import data_lineage
    from modelledger.ledger.home import read
    from modelledger.remote.session import route

    graph = read(route("snapshots", ref, "lineage"), lambda ledger: data_lineage(ledger, ref))
    if as_json:
        emit_json(graph)
        return
    snap = graph["snapshot"]
    root = tree(f"[bold]{snap['name']}[/] {snap['id']}")
    up = root.add("upstream (sources)")
    for tf in graph["upstream"]:
        ins = ", ".join(
            f"{n} {id_shown(i)}" for n, i in zip(tf["input_names"], tf["inputs"], strict=True)
        )
        up.add(
            folded(f"{tf['output_name']} {id_shown(tf['output'])} ← [cyan]{tf['step']}[/] ← {ins}")
        )
    down = root.add("downstream (derived)")
    for tf in graph["downstream"]:
        ins = ", ".join(id_shown(i) for i in tf["inputs"])
        down.add(
            folded(f"{ins} → [cyan]{tf['step']}[/] → {tf['output_name']} {id_shown(tf['output'])}")
        )
    models = root.add("model versions trained or evaluated on these")
    for m in graph["models"]:
        models.add(
            folded(
                f"{m['label']} {id_shown(m['version'])} ({m['role']} on {id_shown(m['snapshot'])})"
            )
        )
    console().print(root)


def affected(
    source: str | None = typer.Option(None, "--source", help="A source named in dataset cards."),
    record: str | None = typer.Option(
        None, "--record", help="COLUMN=VALUE: a person's record, found by scanning tables."
    ),
    within: list[str] = typer.Option([], "--in", help="Only scan these snapshots (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Deletion impact: which snapshots hold a source or record, and which models to retrain."""
    from modelledger.impact.affected import affected as trace
    from modelledger.ledger.home import read

    result = read(
        "/affected",
        lambda ledger: trace(ledger, source=source, record=record, within=within),
        {"source": source, "record": record, "within": within},
    )
    if as_json:
        emit_json(result)
        return
    out = console()
    what = f"source {source!r}" if source is not None else f"record {record}"
    if not result["snapshots"]:
        out.print(f"no snapshot holds {what}")
    else:
        t = table("snapshot", "name", "why", title=f"snapshots holding {what}", wrap=("why",))
        for s in result["snapshots"]:
            t.add_row(id_shown(s["id"]), s["name"], s["why"])
        out.print(t)
    if result["models"]:
        t = table("version", "id", "via", "role", title="model versions to retrain")
        for m in result["models"]:
            via = m["via"] if m["via"].startswith("parent") else id_shown(m["via"])
            t.add_row(m["label"] or "?", id_shown(m["id"]), via, m["role"])
        out.print(t)
    for e in result["serving"]:
        out.print(f"[bold]serving now[/]: {e['env']} runs {e['label'] or id_shown(e['id'])}")
    for v in result["violations"]:
        out.print(f"[bold red]violation[/]: {v['message']}")
