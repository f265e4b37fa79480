"""``mledger env …``: environments, what runs in them now and at any past instant, their policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelledger.console.options import JsonOpt, SigningKeyOpt
from modelledger.console.output import (
    console,
    emit_json,
    id_shown,
    kv_table,
    table,
    when,
)

app = typer.Typer(
    help="Environments: pinned pointers (production, staging, …) and their gate policies.",
    no_args_is_help=True,
)


def _who(label: str | None, id_: str | None) -> str:
    if id_ is None:
        return "nothing"
    return f"{label}  {id_}" if label else id_


@app.command()
def create(
    name: str = typer.Argument(..., help="Environment name, e.g. production."),
    as_json: bool = JsonOpt,
) -> None:
    """Create an empty environment (gated by the default policy until one is set)."""
    from modelledger.ledger.home import call
    from modelledger.releases.environments import create as make

    done = call(
        "POST", "/environments", lambda ledger: {"env": name, "created": make(ledger, name)},
        {"name": name},
    )  # fmt: skip
    created = done["created"]
    if as_json:
        emit_json(done)
    else:
        typer.echo(f"created environment {name}" if created else f"{name} already exists")


@app.command("list")
def list_(as_json: bool = JsonOpt) -> None:
    """Every environment and what is live in it."""
    from modelledger.ledger.home import read
    from modelledger.releases.environments import list_envs

    envs = read("/environments", list_envs)
    if as_json:
        emit_json(envs)
        return
    if not envs:
        typer.echo("no environments yet: `mledger env create production`")
        return
    t = table("env", "live", "id", "since")
    for e in envs:
        t.add_row(
            e["env"], e["label"] or "—", id_shown(e["id"]) if e["id"] else "—", when(e["since"])
        )
    console().print(t)


@app.command()
def show(
    env: str = typer.Argument(..., help="Environment name."),
    as_json: bool = JsonOpt,
) -> None:
    """What is live now: the pinned id, NAME@N, since when, promoted and approved by whom."""
    from modelledger.ledger.home import read
    from modelledger.releases.env_status import show as load
    from modelledger.remote.session import route

    found = read(route("environments", env), lambda ledger: load(ledger, env))
    if as_json:
        emit_json(found)
        return
    rehearsal = found["last_rehearsal"]
    rows: list[tuple[str, Any]] = [
        ("env", found["env"]),
        ("live", found["label"] or found["id"] or "nothing"),
        ("id", found["id"]),
        ("since", when(found["since"])),
        (
            "by",
            f"{found['action']} requested by {found['promoted_by']}" if found["action"] else None,
        ),
        ("approved by", ", ".join(found["approved_by"])),
        ("reason", found["reason"]),
        (
            "previous",
            _who(found["previous_label"], id_shown(found["previous"]))
            if found["previous"]
            else None,
        ),
        ("policy", found["policy_sha256"] or "default (no policy set)"),
        (
            "last rehearsal",
            f"{'passed' if rehearsal['passed'] else 'FAILED'} {when(rehearsal['at'])}"
            if rehearsal
            else "never",
        ),
    ]
    console().print(kv_table(rows))


@app.command()
def history(
    env: str = typer.Argument(..., help="Environment name."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the newest N moves."),
    as_json: bool = JsonOpt,
) -> None:
    """Every move of the pointer: promotions, overrides and rollbacks, oldest first."""
    from modelledger.ledger.home import read
    from modelledger.releases.environments import history as load
    from modelledger.remote.session import route

    moves = read(
        route("environments", env, "history"), lambda ledger: load(ledger, env, limit),
        {"limit": limit},
    )  # fmt: skip
    if as_json:
        emit_json(moves)
        return
    if not moves:
        typer.echo(f"nothing was ever live in {env}")
        return
    t = table("#", "at", "action", "live", "previous", "by → approved", "reason", wrap=("reason",))
    for m in moves:
        t.add_row(
            str(m["seq"]),
            when(m["at"]),
            m["action"],
            m["label"] or id_shown(m["id"]),
            (m["previous_label"] or id_shown(m["previous"])) if m["previous"] else "—",
            f"{m['requester']} → {', '.join(m['approvers'])}",
            m["reason"] or "",
        )
    console().print(t)


@app.command()
def at(
    env: str = typer.Argument(..., help="Environment name."),
    time: str = typer.Argument(
        ..., help="ISO-8601 instant, e.g. 2026-03-14T09:30:00Z or 2026-03-14."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """What was live in ENV at TIME (a date alone means its midnight UTC)."""
    from modelledger.ledger.home import read
    from modelledger.releases.environments import at as lookup
    from modelledger.remote.session import route

    found = read(
        route("environments", env, "at"), lambda ledger: lookup(ledger, env, time), {"time": time}
    )
    if as_json:
        emit_json(found)
        return
    if found["id"] is None:
        typer.echo(f"nothing was live in {env} at {when(found['at'])}")
        return
    typer.echo(
        f"{env} at {when(found['at'])}: {_who(found['label'], found['id'])}  "
        f"(live since {when(found['live_since'])})"
    )


@app.command()
def policy(
    env: str = typer.Argument(..., help="Environment name."),
    file: Path | None = typer.Argument(None, help="YAML gate policy to set; omit to show it."),
    key: Path | None = SigningKeyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Set the environment's gate policy from a YAML file (creating the environment if needed),
    or show the policy in force. Every decision records the policy's hash. Once the ledger has
    identities, setting one is signed by an admin (--key)."""
    from modelledger.identity import manage
    from modelledger.ledger.home import open_ledger
    from modelledger.releases.environments import get_policy, set_policy

    with open_ledger() as ledger:
        if file is None:
            found = get_policy(ledger, env)
            if as_json:
                emit_json(found)
                return
            import yaml

            label = "default policy" if found["default"] else f"policy {found['policy_sha256']}"
            typer.echo(f"# {env}: {label}")
            typer.echo(yaml.safe_dump(found["policy"], sort_keys=False).rstrip())
            return
        result = set_policy(ledger, env, file, manage.signing_key(ledger, key))
    if as_json:
        emit_json(result)
    elif result["changed"]:
        typer.echo(f"{env}: policy {result['policy_sha256']} (revision {result['revision']})")
    else:
        typer.echo(f"{env}: policy unchanged ({result['policy_sha256']})")
