"""``mledger data …``: content-addressed dataset snapshots, their lineage, cards and diffs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelledger.console.output import (
    JSON_HELP,
    console,
    emit_json,
    id_shown,
    kv_table,
    table,
    when,
)

app = typer.Typer(
    help="Snapshot datasets as immutable, content-addressed versions; diff, trace and audit them.",
    no_args_is_help=True,
)


@app.command()
def snapshot(
    paths: list[Path] = typer.Argument(..., help="Files and/or folders to snapshot."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset name, e.g. interactions."),
    card: Path | None = typer.Option(None, "--card", help="Dataset card, YAML or JSON."),
    derived_from: list[str] = typer.Option(
        [], "--from", help="Input snapshot this one was derived from (repeatable)."
    ),
    step: str | None = typer.Option(
        None, "--step", help='What the transformation did, e.g. "dedupe+pii-redact".'
    ),
    code: str | None = typer.Option(
        None, "--code", help="The script that ran (hashed, with its git commit), or a reference."
    ),
    param: list[str] = typer.Option([], "--param", help="Transformation parameter k=v."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Snapshot files or folders; prints the ds- id (same bytes, same id)."""
    from modelledger.console.progress import LazyProgress
    from modelledger.core.files import check_inputs
    from modelledger.core.params import parse_pairs
    from modelledger.core.parsing import load_mapping
    from modelledger.data.snapshot import Progress, SnapshotRequest
    from modelledger.data.snapshot import snapshot as take
    from modelledger.ledger.home import open_ledger

    check_inputs(paths)  # regular files and folders, UTF-8 names, no symlink loop
    req = SnapshotRequest(
        paths=paths,
        name=name,
        card=load_mapping(card, "--card") if card else None,
        inputs=derived_from,
        step=step,
        code=code,
        params=parse_pairs(param, "--param"),
    )
    from modelledger.remote.session import Remote

    remote = Remote.from_environment()
    with LazyProgress("hashing", enabled=not as_json) as bar:
        if remote is not None:
            from modelledger.data.remote import snapshot_remote

            result = snapshot_remote(remote, req, Progress(bar.total, bar.advance))
        else:
            with open_ledger() as ledger:
                result = take(ledger, req, Progress(bar.total, bar.advance))
    if as_json:
        emit_json(result.to_json())
        return
    snap = result.snapshot
    verb = "snapshot" if result.created else "already snapshotted (same bytes)"
    typer.echo(f"{verb} {snap.name}: {snap.id}  ({snap.file_count} files, {snap.size:,} bytes)")
    if result.transform:
        typer.echo(
            f"  derived by {id_shown(result.transform.id)} ({result.transform.step}) from "
            + ", ".join(id_shown(i) for i in result.transform.inputs)
        )
    if result.card_revision:
        typer.echo(f"  dataset card revision {result.card_revision} stored")
    for e in result.erased_again:
        typer.echo(
            f"warning: it holds {e['objects']} object(s) erased from {id_shown(e['snapshot'])} "
            f"on {str(e['erased_at'])[:10]} at a deletion request; erase it too "
            f"(mledger data erase {id_shown(e['snapshot'])[:15]}… or the record)",
            err=True,
        )


@app.command()
def show(
    ref: str = typer.Argument(..., help="Snapshot id or unique prefix."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show one snapshot: its files, card and the transformation that produced it."""
    from modelledger.data.snapshot import show as load
    from modelledger.ledger.home import read
    from modelledger.remote.session import route

    snap = read(route("snapshots", ref), lambda ledger: load(ledger, ref))
    if as_json:
        emit_json(snap)
        return
    out = console()
    rows = [
        (k, when(snap[k]) if k == "created_at" else snap[k])
        for k in ("id", "name", "tree_sha256", "size", "file_count", "created_at", "created_by")
    ]
    rows.append(("card", f"revision {snap['card']['revision']}" if snap["card"] else None))
    rows += [(k, snap[k]) for k in ("collected", "erased") if snap.get(k)]
    for tf in snap["derived_by"]:
        rows.append(
            ("derived by", f"{tf['step']} from " + ", ".join(id_shown(i) for i in tf["inputs"]))
        )
    out.print(kv_table(rows))
    t = table("path", "bytes", "sha256")
    for f in snap["files"][:50]:
        t.add_row(f["path"], f"{f['size']:,}", f["sha256"][:12])
    out.print(t)
    if len(snap["files"]) > 50:
        out.print(f"… and {len(snap['files']) - 50} more files (--json lists all)")


@app.command("list")
def list_(
    name: str | None = typer.Option(None, "--name", help="Only snapshots of this dataset."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List snapshots, newest first."""
    from modelledger.data.snapshot import list_snapshots
    from modelledger.ledger.home import read

    found = read(
        "/snapshots",
        lambda ledger: [s.to_json() for s in list_snapshots(ledger, name)],
        {"name": name},
    )
    if as_json:
        emit_json(found)
        return
    if not found:
        typer.echo("no snapshots yet: `mledger data snapshot PATH --name NAME`")
        return
    t = table("name", "id", "files", "bytes", "created")
    for s in found:
        t.add_row(
            s["name"],
            id_shown(s["id"]),
            str(s["file_count"]),
            f"{s['size']:,}",
            when(s["created_at"]),
        )
    console().print(t)


@app.command()
def checkout(
    ref: str = typer.Argument(..., help="Snapshot id or unique prefix."),
    directory: Path = typer.Argument(..., help="Folder to materialise the files into."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty folder."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write a snapshot's files into a folder, verifying every file's hash."""
    from modelledger.console.progress import LazyProgress
    from modelledger.data.checkout import checkout as materialise
    from modelledger.ledger.home import open_ledger
    from modelledger.remote.session import Remote

    remote = Remote.from_environment()
    with LazyProgress("checking out", enabled=not as_json) as bar:
        if remote is not None:
            from modelledger.data.remote import checkout_remote

            result = checkout_remote(remote, ref, directory, force, bar.advance)
        else:
            with open_ledger() as ledger:
                result = materialise(ledger, ref, directory, force, bar.advance)
    info = {
        "id": result.snapshot_id,
        "directory": str(result.directory),
        "files": result.files,
        "bytes": result.bytes,
    }
    if as_json:
        emit_json(info)
        return
    typer.echo(
        f"checked out {id_shown(result.snapshot_id)} into {result.directory} "
        f"({result.files} files, {result.bytes:,} bytes, all hashes verified)"
    )


@app.command()
def card(
    ref: str = typer.Argument(..., help="Snapshot id or unique prefix."),
    fmt: str = typer.Option("yaml", "--format", help="yaml or markdown."),
    set_file: Path | None = typer.Option(
        None, "--set", help="Amend: store this card (YAML/JSON) as a new revision."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show a snapshot's dataset card, or amend it with --set (each amendment is logged)."""
    from modelledger.core.errors import InvalidInput
    from modelledger.core.parsing import load_mapping
    from modelledger.data import dataset_cards
    from modelledger.ledger.home import call, read
    from modelledger.remote.session import route

    if fmt not in ("yaml", "markdown"):
        raise InvalidInput(f"--format {fmt!r}: expected yaml or markdown")
    path = route("snapshots", ref, "card")
    if set_file is not None:
        given = load_mapping(set_file, "--set")
        done = call(
            "PUT",
            path,
            lambda ledger: dataset_cards.amended_json(ledger, ref, given),
            {"card": given},
        )
        if not as_json:
            revision = done["revision"]
            typer.echo(
                f"{id_shown(done['id'])}: "
                + (
                    f"card revision {revision} stored"
                    if revision
                    else "card unchanged (same as the current revision)"
                )
            )
    shown = read(path, lambda ledger: dataset_cards.card_json(ledger, ref))
    if as_json:
        emit_json(shown)
        return
    if set_file is not None:
        return
    _print_card(shown["card"], shown["revision"], fmt)


def _print_card(data: dict[str, Any], revision: int, fmt: str) -> None:
    if fmt == "markdown":
        from modelledger.data.dataset_card import dataset_card_markdown

        typer.echo(dataset_card_markdown(data))
        return
    import yaml

    typer.echo(f"# dataset card revision {revision}")
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())


def _columns(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


@app.command()
def diff(
    a: str = typer.Argument(..., help="The earlier snapshot (id or prefix)."),
    b: str = typer.Argument(..., help="The later snapshot (id or prefix)."),
    key: str | None = typer.Option(None, "--key", help="Key column(s), COL[,COL]: row-level diff."),
    by: list[str] = typer.Option(
        [], "--by", help="Compare categories of this column (repeatable)."
    ),
    table_path: list[str] = typer.Option(
        [], "--table", help="Pair these files: once for both sides, or twice (A's path, B's path)."
    ),
    sample: int = typer.Option(5, "--sample", min=0, help="Example rows per kind of change."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """What changed between two snapshots: files, and inside tables rows, schema, nulls,
    distributions and categories — a vanished category first."""
    from modelledger.data.diff import diff as compare
    from modelledger.ledger.home import read

    keys = _columns(key)
    asked = {"a": a, "b": b, "key": keys, "by": by, "table": table_path, "sample": sample}
    result = read(
        "/diff",
        lambda ledger: compare(ledger, a, b, tables=table_path, key=keys, by=by, sample=sample),
        asked,
    )
    if as_json:
        emit_json(result)
        return
    from modelledger.data.diff_view import print_diff

    print_diff(console(), result)


@app.command()
def leakage(
    eval_ref: str = typer.Option(..., "--eval", help="The eval snapshot."),
    train: list[str] = typer.Option(..., "--train", help="A training snapshot (repeatable)."),
    key: str | None = typer.Option(None, "--key", help="Compare these key column(s) only."),
    columns: str | None = typer.Option(
        None, "--columns", help="Compare these columns (default: the columns all tables share)."
    ),
    sample: int = typer.Option(5, "--sample", min=0, help="Overlapping rows to show."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Prove an eval set never leaked into training: exit 1 when any row (or key) overlaps."""
    from modelledger.data.leakage import leakage as check
    from modelledger.ledger.home import read

    keys, cols = _columns(key), _columns(columns)
    result = read(
        "/leakage",
        lambda ledger: check(ledger, eval_ref, train, key=keys, columns=cols, sample=sample),
        {"eval": eval_ref, "train": train, "key": keys, "columns": cols, "sample": sample},
    )
    if as_json:
        emit_json(result)
    else:
        out = console()
        used = ", ".join(result["columns"])
        if result["leak"]:
            out.print(
                f"[bold red]LEAK[/]: {result['overlapping_rows']:,} of {result['eval_rows']:,} eval "
                f"rows ({result['overlapping_distinct']:,} distinct) also appear in training "
                f"(compared on {used})"
            )
            t = table(*result["columns"], title="sample of overlapping eval rows")
            for row in result["sample"]:
                t.add_row(*(str(row.get(c)) for c in result["columns"]))
            out.print(t)
        else:
            out.print(
                f"no overlap: none of {result['eval_rows']:,} eval rows appears in "
                f"{result['train_rows']:,} training rows (compared on {used})"
            )
    if result["leak"]:
        raise typer.Exit(1)
