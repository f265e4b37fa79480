"""``mledger eval …``: eval sets, immutable results pinned to them, like-for-like comparison."""

from __future__ import annotations

from pathlib import Path

import typer

from modelledger.console.options import JsonOpt
from modelledger.console.output import console, emit_json, id_shown, table, when

app = typer.Typer(help="Eval sets and versioned eval results.", no_args_is_help=True)
sets = typer.Typer(help="Eval sets: snapshots used for evaluation.", no_args_is_help=True)
app.add_typer(sets, name="set")


@sets.command("create")
def set_create(
    name: str = typer.Argument(..., help="Eval set name, e.g. core-eval."),
    paths: list[Path] = typer.Argument(..., help="Files or folders holding the eval data."),
    as_json: bool = JsonOpt,
) -> None:
    """Snapshot the eval data (content-addressed ds-…) and mark it as an eval set."""
    from modelledger.console.progress import LazyProgress
    from modelledger.core.files import check_inputs
    from modelledger.data.snapshot import Progress
    from modelledger.evals.evaluate import create_eval_set
    from modelledger.ledger.home import open_ledger
    from modelledger.remote.session import Remote

    check_inputs(paths)
    remote = Remote.from_environment()
    with LazyProgress("hashing", enabled=not as_json) as bar:
        progress = Progress(bar.total, bar.advance)
        if remote is not None:
            from modelledger.evals.remote import create_eval_set_remote

            result, created = create_eval_set_remote(remote, name, paths, progress)
        else:
            with open_ledger() as ledger:
                result, created = create_eval_set(ledger, name, paths, progress)
    snap = result.snapshot
    if as_json:
        emit_json({**result.to_json(), "eval_set_created": created})
        return
    verb = "eval set" if created else "already an eval set:"
    typer.echo(f"{verb} {name}: {snap.id}  ({snap.file_count} files, {snap.size:,} bytes)")


@sets.command("list")
def set_list(
    name: str | None = typer.Option(None, "--name", help="Only eval sets of this name."),
    as_json: bool = JsonOpt,
) -> None:
    """List eval sets, newest first."""
    from modelledger.evals.evaluate import list_eval_sets
    from modelledger.ledger.home import read

    found = read("/eval-sets", lambda ledger: list_eval_sets(ledger, name), {"name": name})
    if as_json:
        emit_json(found)
        return
    if not found:
        typer.echo("no eval sets yet: create one with `mledger eval set create NAME PATH`")
        return
    t = table("id", "name", "created", "by")
    for s in found:
        t.add_row(id_shown(s["id"]), s["name"], when(s["created_at"]), s["created_by"])
    console().print(t)


@app.command()
def record(
    ref: str = typer.Argument(..., help="Version that was scored (id, prefix, NAME@N)."),
    eval_set: str = typer.Option(..., "--eval-set", "-e", help="The eval set (ds-… or prefix)."),
    metrics: Path | None = typer.Option(
        None, "--metrics", help="JSON/YAML mapping of metric → number (optional `slices:` key)."
    ),
    metric: list[str] = typer.Option([], "--metric", "-m", help="NAME=NUMBER (repeatable)."),
    slice_: list[str] = typer.Option(
        [], "--slice", "-s", help="SLICE:METRIC=NUMBER, e.g. new_users:auc=0.88 (repeatable)."
    ),
    report: Path | None = typer.Option(None, "--report", help="Full eval report file to keep."),
    as_json: bool = JsonOpt,
) -> None:
    """Store an immutable eval result of a version on a pinned eval set."""
    from modelledger.core.errors import InvalidInput
    from modelledger.core.files import check_file
    from modelledger.core.parsing import load_mapping
    from modelledger.evals.evaluate import record as record_result
    from modelledger.evals.results import (
        merge_slices,
        parse_metric_args,
        parse_metrics_file,
        parse_slice_args,
    )
    from modelledger.ledger.home import open_ledger

    if report is not None:
        check_file(report, "--report")
    from_file: tuple[dict[str, float], dict[str, dict[str, float]]] = ({}, {})
    if metrics is not None:
        from_file = parse_metrics_file(load_mapping(metrics, "--metrics"), f"--metrics {metrics}")
    flags = parse_metric_args(metric)
    clash = set(flags) & set(from_file[0])
    if clash:
        raise InvalidInput(f"--metric {', '.join(sorted(clash))} is also in --metrics")
    slices = merge_slices(from_file[1], parse_slice_args(slice_))
    from modelledger.remote.session import Remote

    scores_given = {**from_file[0], **flags}
    remote = Remote.from_environment()
    if remote is not None:
        from modelledger.evals.remote import record_remote

        r, label, created, warnings = record_remote(
            remote, ref, eval_set, scores_given, slices, report
        )
    else:
        with open_ledger() as ledger:
            done = record_result(ledger, ref, eval_set, scores_given, slices, report)
        r, label, created, warnings = done.result, done.label, done.created, list(done.warnings)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json({**r.to_json(), "created": created, "warnings": warnings})
        return
    verb = "recorded" if created else "already recorded (same result)"
    scores = ", ".join(f"{k}={v:g}" for k, v in sorted(r.metrics.items()))
    typer.echo(f"{verb} {id_shown(r.id)}: {label} on {id_shown(r.eval_set_id)}  {scores}")
    for name, values in sorted(r.slices.items()):
        typer.echo(f"  slice {name}: " + ", ".join(f"{k}={v:g}" for k, v in sorted(values.items())))


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def _delta(x: float | None) -> str:
    return "" if x is None else f"{x:+.4g}"


@app.command()
def compare(
    a: str = typer.Argument(..., help="First version."),
    b: str = typer.Argument(..., help="Second version."),
    as_json: bool = JsonOpt,
) -> None:
    """Metrics and slices of two versions side by side, on the eval sets both were scored on.
    Refuses (exit 1) when they share none: scores on different eval sets are not comparable."""
    from modelledger.evals.evaluate import compare as run
    from modelledger.ledger.home import read

    found = read("/evals/compare", lambda ledger: run(ledger, a, b), {"a": a, "b": b})
    if as_json:
        emit_json(found)
        return
    out = console()
    la, lb = found["a"]["label"], found["b"]["label"]
    for block in found["eval_sets"]:
        t = table("metric", la, lb, "Δ", title=f"on {block['name']} {id_shown(block['eval_set'])}")
        for row in block["metrics"]:
            t.add_row(row["metric"], _fmt(row["a"]), _fmt(row["b"]), _delta(row["delta"]))
        for name, rows in block["slices"].items():
            for row in rows:
                t.add_row(
                    f"{name}: {row['metric']}", _fmt(row["a"]), _fmt(row["b"]), _delta(row["delta"])
                )
        out.print(t)
    for side, key in ((la, "only_a"), (lb, "only_b")):
        if found[key]:
            out.print(f"only {side} was scored on: " + ", ".join(id_shown(s) for s in found[key]))
