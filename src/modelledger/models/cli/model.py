"""``mledger model …``: register and read model versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelledger.console.options import JsonOpt
from modelledger.console.output import (
    console,
    emit_json,
    folded,
    id_shown,
    kv_table,
    table,
    tree,
    when,
)

app = typer.Typer(help="Register model versions and read them back.", no_args_is_help=True)


@app.command()
def register(
    name: str = typer.Argument(..., help="Model name, e.g. delay (letters, digits, . _ -)."),
    artifact: Path = typer.Option(..., "--artifact", "-a", help="Model file or directory."),
    data: list[str] = typer.Option(
        [],
        "--data",
        "-d",
        help="Snapshot used, as ds-…[:role] (role: train, val, test, finetune, eval).",
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Hyperparameter KEY=VALUE (repeatable)."
    ),
    params_file: Path | None = typer.Option(
        None, "--params-file", help="JSON or YAML mapping of hyperparameters."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Random seed of the run."),
    parent: str | None = typer.Option(
        None, "--parent", help="Version this one was derived from (REF)."
    ),
    base_model: str | None = typer.Option(
        None, "--base-model", help="Pinned base: a version REF or an external name@revision#sha256."
    ),
    lock: Path | None = typer.Option(
        None,
        "--lock",
        help="Dependency lock (uv.lock, poetry.lock, requirements); default: this interpreter's packages.",
    ),
    loader: str | None = typer.Option(
        None, "--loader", help="How to load it: joblib, pickle or python:pkg.mod:factory."
    ),
    card: Path | None = typer.Option(None, "--card", help="Model card, YAML or JSON."),
    allow_dirty: bool = typer.Option(
        False, "--allow-dirty", help="Record uncommitted changes and mark the version dirty."
    ),
    code_ref: str | None = typer.Option(
        None, "--code-ref", help="Code reference when not in a git repository."
    ),
    preprocessing: str | None = typer.Option(
        None, "--preprocessing", help="Preprocessing code reference or hash."
    ),
    irreproducible: bool = typer.Option(
        False,
        "--irreproducible",
        help="Register an existing artifact whose lineage is unknown (needs --reason).",
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why the version is irreproducible."),
    command: str | None = typer.Option(
        None, "--command", help='The training command, for `mledger reproduce`: "python train.py".'
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Register a model version: the whole reproducible tuple, captured automatically."""
    import os

    from modelledger.core.errors import InvalidInput
    from modelledger.core.params import merge_params, parse_pairs
    from modelledger.core.parsing import load_mapping
    from modelledger.ledger.home import open_ledger
    from modelledger.models import training_command
    from modelledger.models.hooks import installed
    from modelledger.models.register import RegisterRequest, register
    from modelledger.models.remote import register_remote
    from modelledger.remote.session import Remote

    if command is not None and not command.strip():
        raise InvalidInput("--command is empty")
    if reason is not None and not irreproducible:
        raise InvalidInput("--reason goes with --irreproducible")
    if irreproducible and not (reason and reason.strip()):
        raise InvalidInput('--irreproducible needs --reason "…" saying why the lineage is unknown')
    from_file = load_mapping(params_file, "--params-file") if params_file else {}
    params = merge_params(from_file, parse_pairs(param))
    request = RegisterRequest.of(
        name,
        artifact,
        data=data,
        params=params,
        seed=seed,
        parent=parent,
        base_model=base_model,
        lock=lock,
        loader=loader,
        card=load_mapping(card, "--card") if card else None,
        allow_dirty=allow_dirty,
        irreproducible=reason if irreproducible else None,
        code_ref=code_ref,
        preprocessing=preprocessing,
        manifest={
            "command": "mledger model register",
            **(
                {training_command.KEY: training_command.from_shell(command, os.getcwd())}
                if command
                else {}
            ),
        },
        read_from=[f for f in (card, params_file) if f is not None],
    )
    remote = Remote.from_environment()
    if remote is not None:
        done = register_remote(remote, request)
        _print_registered(done, as_json)
        return
    with open_ledger() as ledger:
        result = register(ledger, request)
    hooks = installed()
    extras = {h.key: h.to_json(result.extras.get(h.key)) for h in hooks}
    done = {
        **result.version.to_json(),
        "created": result.created,
        "warnings": list(result.warnings),
        **extras,
    }
    _print_registered(done, as_json)
    if not as_json:
        for hook in hooks:
            if result.extras.get(hook.key) is not None:
                console().print(f"  {hook.summary(result.extras[hook.key])}")


def _print_registered(done: dict[str, Any], as_json: bool) -> None:
    """What ``register`` prints of a registration's JSON (local or the server's)."""
    for warning in done["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(done)
        return
    out = console()
    label, id_ = done["label"], done["id"]
    if done["created"]:
        out.print(f"registered [bold]{label}[/bold]  {id_}")
    else:
        out.print(f"already registered as [bold]{label}[/bold] (same tuple)  {id_}")
    repro = done["reproducibility"]
    note = f" — {'; '.join(repro['reasons'])}" if repro["reasons"] else ""
    out.print(f"  reproducibility: {repro['status']}{note}")


def _reproduced(r: dict[str, Any] | None) -> str | None:
    if r is None:
        return None
    why = "; ".join(r["missing"]) or r.get("error") or ""
    return f"{r['outcome']} on {str(r['at'])[:10]} (event #{r['event']})" + (
        f": {why}" if why else ""
    )


def _version_rows(v: dict[str, Any]) -> list[tuple[str, Any]]:
    t = v["tuple"]
    code = t["code"]
    if code is None:
        code_text = "none"
    elif code["kind"] == "ref":
        code_text = code["ref"]
    else:
        code_text = f"{code['repo']} @ {code['commit']}" + (" (dirty)" if code["dirty"] else "")
    repro = v["reproducibility"]
    hw = v["manifest"].get("hardware", {})
    return [
        ("id", v["id"]),
        ("version", v["label"]),
        ("registered", f"{when(v['created_at'])} by {v['registered_by']}"),
        (
            "reproducibility",
            repro["status"] + (f" — {'; '.join(repro['reasons'])}" if repro["reasons"] else ""),
        ),
        (
            "artifact",
            f"{t['artifact']['kind']} sha256:{t['artifact']['sha256']} ({t['artifact']['size']:,} bytes)",
        ),
        ("code", code_text),
        ("data", ", ".join(f"{d['id']} ({d['role']})" for d in t["data"])),
        ("params", ", ".join(f"{k}={val}" for k, val in t["params"].items())),
        ("seed", t["seed"]),
        ("lock", f"sha256:{t['lock_sha256']}" if t["lock_sha256"] else None),
        ("base model", t["base_model"]),
        ("parent", t["parent"]),
        ("preprocessing", t["preprocessing"]),
        ("loader", v["loader"]),
        ("hardware", f"{hw.get('cpu')} ×{hw.get('cores')}, {hw.get('os')}" if hw else None),
        ("card", f"revision {v['card']['revision']}" if v["card"] else None),
        ("tags", ", ".join(f"{k}={val}" for k, val in v["tags"].items()) or None),
        ("description", v["description"]),
        ("reproduction", _reproduced(v.get("reproduction"))),
        (
            "retrain",
            "; ".join(
                f"its data {r['snapshot'][:15]} was erased on {str(r['erased_at'])[:10]}"
                for r in v.get("retrain") or []
            )
            or None,
        ),
    ]


@app.command()
def show(
    ref: str = typer.Argument(..., help="Version: full id, unique prefix, or NAME@N."),
    as_json: bool = JsonOpt,
) -> None:
    """Show one version: its tuple, run manifest and status."""
    from modelledger.ledger.home import read
    from modelledger.models.status import show as show_version
    from modelledger.remote.session import route

    data = read(route("versions", ref), lambda ledger: show_version(ledger, ref))
    if as_json:
        emit_json(data)
        return
    console().print(kv_table(_version_rows(data)))


@app.command()
def checkout(
    ref: str = typer.Argument(..., help="Version: full id, unique prefix, or NAME@N."),
    directory: Path = typer.Argument(..., help="Folder to write the artifact into."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty folder."),
    as_json: bool = JsonOpt,
) -> None:
    """Write a version's artifact into a folder, every byte checked against its sha256: a file
    under the name it was registered with, a folder's files as they were."""
    from modelledger.console.progress import LazyProgress
    from modelledger.ledger.home import open_ledger
    from modelledger.models.checkout import checkout as write_out
    from modelledger.remote.session import Remote

    remote = Remote.from_environment()
    with LazyProgress("checking out", enabled=not as_json) as bar:
        if remote is not None:
            from modelledger.models.remote import checkout_remote

            done = checkout_remote(remote, ref, directory, force, bar.advance)
        else:
            with open_ledger() as ledger:
                done = write_out(ledger, ref, directory, force, bar.advance)
    if as_json:
        emit_json(done.to_json())
        return
    what = f"{done.files} files" if done.version.tuple.artifact.kind == "tree" else "1 file"
    typer.echo(
        f"checked out {done.version.label} into {done.path} ({what}, {done.bytes:,} bytes, "
        "all hashes verified)"
    )


@app.command("list")
def list_(
    name: str | None = typer.Argument(None, help="Only versions of this model."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = JsonOpt,
) -> None:
    """List versions, newest first (to filter by params, scores, tags: `model search`)."""
    from modelledger.ledger.home import read
    from modelledger.models.reads import list_versions
    from modelledger.models.version import ModelVersion

    listed = read(
        "/versions",
        lambda ledger: [v.to_json() for v in list_versions(ledger, name, limit)],
        {"name": name, "limit": limit},
    )
    if as_json:
        emit_json(listed)
        return
    found = [ModelVersion.from_json(v) for v in listed]
    if not found:
        typer.echo(
            "no versions" + (f" of {name}" if name else "") + " yet: `mledger model register`"
        )
        return
    t = table("version", "id", "registered", "by", "reproducibility")
    for v in found:
        t.add_row(
            v.label,
            id_shown(v.id),
            when(v.created_at),
            v.registered_by,
            v.reproducibility.status,
        )
    console().print(t)


@app.command()
def tag(
    ref: str = typer.Argument(..., help="Version: full id, unique prefix, or NAME@N."),
    pairs: list[str] = typer.Argument(
        None, help="Tags to set, KEY=VALUE (the value may be empty)."
    ),
    remove: list[str] = typer.Option([], "--remove", "-r", help="Remove this tag (repeatable)."),
    as_json: bool = JsonOpt,
) -> None:
    """Set or remove tags on a version (labels outside its tuple); with none, list them.
    Each change is an event: who, when, the old value and the new."""
    from modelledger.core.labels import parse_tags
    from modelledger.ledger.home import call
    from modelledger.models import labels
    from modelledger.remote.session import route

    given = parse_tags(pairs or [])
    done = call(
        "POST", route("versions", ref, "tags"),
        lambda ledger: labels.tag(ledger, ref, given, remove).to_json(),
        {"set": given, "remove": remove},
    )  # fmt: skip
    _labelled(done, as_json, "tags")


@app.command()
def describe(
    ref: str = typer.Argument(..., help="Version: full id, unique prefix, or NAME@N."),
    text: str | None = typer.Argument(None, help="The description (quote it)."),
    clear: bool = typer.Option(False, "--clear", help="Remove the description."),
    as_json: bool = JsonOpt,
) -> None:
    """Set a version's description (outside its tuple; each change is an event)."""
    from modelledger.core.errors import InvalidInput
    from modelledger.ledger.home import call
    from modelledger.models import labels
    from modelledger.remote.session import route

    if clear == (text is not None):
        raise InvalidInput("give the description as TEXT, or --clear to remove it")
    given = None if clear else text
    done = call(
        "PUT", route("versions", ref, "description"),
        lambda ledger: labels.describe(ledger, ref, given).to_json(), {"text": given},
    )  # fmt: skip
    _labelled(done, as_json, "description")


def _labelled(done: dict[str, Any], as_json: bool, what: str) -> None:
    if as_json:
        emit_json(done)
        return
    label = done["label"]
    for c in done["changes"]:
        key, old, new = c["key"], c["old"], c["new"]
        if key == "description":
            typer.echo(f"{label}: description " + ("removed" if new is None else "set"))
        elif new is None:
            typer.echo(f"{label}: tag {key} removed (was {old!r})")
        elif old is None:
            typer.echo(f"{label}: tag {key}={new}")
        else:
            typer.echo(f"{label}: tag {key}={new} (was {old!r})")
    if not done["changes"] and what == "tags":
        shown = ", ".join(f"{k}={val}" for k, val in done["tags"].items())
        typer.echo(f"{label}: " + (f"tags {shown}" if shown else "no tags"))
    elif not done["changes"]:
        typer.echo(f"{label}: description unchanged")


@app.command()
def lineage(
    ref: str = typer.Argument(..., help="Version: full id, unique prefix, or NAME@N."),
    as_json: bool = JsonOpt,
) -> None:
    """Ancestry through parent and base-model links, the data it trained on, and its children."""
    from modelledger.ledger.home import read
    from modelledger.models.reads import lineage as build
    from modelledger.remote.session import route

    info = read(route("versions", ref, "lineage"), lambda ledger: build(ledger, ref))
    if as_json:
        emit_json(info)
        return
    root = tree(f"[bold]{info['label']}[/bold]  {info['id']}")
    code = info["code"]
    if code:
        root.add(
            folded(
                f"code: {code.get('repo') or code.get('ref')} {code.get('commit') or ''}".rstrip()
            )
        )
    for d in info["data"]:
        root.add(folded(f"data ({d['role']}): {d['name'] or '?'}  {d['id']}"))
    nodes = {info["id"]: root}
    for a in info["ancestors"]:
        label = a.get("label") or "external checkpoint"
        node = nodes[a["of"]].add(folded(f"{a['relation']}: {label}  {a['id']}"))
        nodes.setdefault(a["id"], node)
    for c in info["children"]:
        root.add(folded(f"child: {c['label']}  {c['id']}"))
    console().print(root)


@app.command()
def verify(
    ref: str = typer.Argument(..., help="Version: full id, unique prefix, or NAME@N."),
    as_json: bool = JsonOpt,
) -> None:
    """Re-hash the stored artifact against the version's sha256 (exit 1 on mismatch)."""
    from modelledger.core.errors import CheckFailed
    from modelledger.ledger.home import read
    from modelledger.models.reads import verify as run_verify
    from modelledger.remote.session import route

    report = read(
        route("versions", ref, "verify"), lambda ledger: run_verify(ledger, ref).to_json()
    )
    if as_json:
        emit_json(report)
        if not report["ok"]:
            raise typer.Exit(1)
        return
    if not report["ok"]:
        raise CheckFailed(
            f"{report['label']} failed verification: " + "; ".join(report["problems"])
        )
    typer.echo(
        f"ok: {report['label']} artifact matches sha256:{report['sha256']} "
        f"({report['checked']} object(s) checked)"
    )


@app.command()
def card(
    ref: str = typer.Argument(..., help="Version: full id, unique prefix, or NAME@N."),
    fmt: str = typer.Option("yaml", "--format", help="yaml or markdown."),
    set_file: Path | None = typer.Option(
        None, "--set", help="Amend: store this card (YAML/JSON) as a new revision."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Show a version's model card, or amend it with --set (each amendment is a logged revision)."""
    import yaml

    from modelledger.core.errors import InvalidInput
    from modelledger.core.parsing import load_mapping
    from modelledger.ledger.home import call, read
    from modelledger.models import reads as models
    from modelledger.models.card import card_markdown
    from modelledger.remote.session import route

    if fmt not in ("yaml", "markdown"):
        raise InvalidInput(f"--format {fmt!r}: choose yaml or markdown")
    path = route("versions", ref, "card")
    if set_file is not None:
        given = load_mapping(set_file, "--set")
        amended = call(
            "PUT", path, lambda ledger: models.amended_json(ledger, ref, given), {"card": given}
        )
        if not as_json:
            typer.echo(f"{amended['label']}: card revision {amended['revision']} stored")
    shown = read(path, lambda ledger: models.card_json(ledger, ref))
    if as_json:
        emit_json(shown)
    elif set_file is None:
        label, data = f"{shown['label']} ({shown['id']})", shown["card"]
        if fmt == "markdown":
            typer.echo(card_markdown(label, data))
        else:
            typer.echo(f"# {shown['label']} {shown['id']} — card revision {shown['revision']}")
            typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())
