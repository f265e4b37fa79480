"""``mledger identity …``: the people and service accounts of a ledger, their roles and keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelledger.console.options import JsonOpt, SigningKeyOpt
from modelledger.console.output import console, emit_json, table

app = typer.Typer(
    help="People and service accounts: roles (reader, writer, approver[:ENV], admin), groups and "
    "the keys they sign approvals with.",
    no_args_is_help=True,
)
RoleOpt = typer.Option([], "--role", help="reader, writer, approver, approver:ENV or admin.")
GroupOpt = typer.Option([], "--group", help="A group, named in policies as group:NAME.")
PublicKeyOpt = typer.Option(
    [], "--public-key", help="Their public key: a file (PEM, OpenSSH .pub) or ed25519:<hex>."
)


def _public(texts: list[str]) -> list[str]:
    from modelledger.ledger.keys import public_key_file

    return [public_key_file(Path(t).expanduser()) for t in texts]


def _print(change: Any, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(change.to_json())
        return
    p = change.principal
    roles = ", ".join(str(g) for g in p.grants) or "no roles"
    groups = f"; groups {', '.join(p.groups)}" if p.groups else ""
    state = " (disabled)" if p.disabled else ""
    events = ", ".join(f"#{s}" for s in change.events) or "nothing changed"
    typer.echo(f"{verb} {p.kind} {p.name}{state}: {roles}{groups}  [events {events}]")


@app.command()
def keygen(
    out: Path | None = typer.Option(None, "--out", help="Where to write it (default: --key's)."),
    as_json: bool = JsonOpt,
) -> None:
    """Make your Ed25519 signing key (readable by you only); prints the public half to give an
    admin. Never replaces a key that is there."""
    from modelledger.identity import keyfile, signing

    path, written = keyfile.generate(out)
    public = signing.public_key_text(keyfile.load(path))
    if as_json:
        emit_json({"path": str(path), "written": written, "public_key": public})
        return
    typer.echo(f"{'wrote' if written else 'kept the key already at'} {path}")
    typer.echo(f"public key: {public}")
    typer.echo(f"fingerprint: {signing.fingerprint(public)}")


@app.command()
def init(
    name: str = typer.Argument(..., help="Your name: the ledger's first admin."),
    key: Path | None = SigningKeyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Name the first admin and the key they sign with (once per ledger). Every later change of
    who may do what is signed by an admin."""
    from modelledger.identity import keyfile, manage
    from modelledger.ledger.home import open_ledger

    private = keyfile.load(key)
    with open_ledger() as ledger:
        _print(manage.init_root(ledger, name, private), as_json, "set up: admin")


@app.command()
def add(
    name: str = typer.Argument(..., help="Their name, e.g. bob or ci-bot."),
    service: bool = typer.Option(False, "--service", help="A service account, not a person."),
    role: list[str] = RoleOpt,
    group: list[str] = GroupOpt,
    public_key: list[str] = PublicKeyOpt,
    key: Path | None = SigningKeyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add a person or service account (signed by your admin key)."""
    from modelledger.identity import keyfile, manage
    from modelledger.ledger.home import open_ledger

    admin = keyfile.load(key)
    keys = _public(public_key)
    with open_ledger() as ledger:
        done = manage.save(
            ledger, admin, name, kind="service" if service else "person", grant=role,
            join=group, add_keys=keys, create=True,
        )  # fmt: skip
    _print(done, as_json, "added")


@app.command("set")
def set_(
    name: str = typer.Argument(..., help="Who to change."),
    grant: list[str] = typer.Option([], "--grant", help="A role to add (repeat)."),
    revoke: list[str] = typer.Option([], "--revoke", help="A role to take away (repeat)."),
    join: list[str] = typer.Option([], "--join", help="A group to join (repeat)."),
    leave: list[str] = typer.Option([], "--leave", help="A group to leave (repeat)."),
    disable: bool | None = typer.Option(
        None, "--disable/--enable", help="Disable (their keys stop counting) or enable."
    ),
    add_key: list[str] = typer.Option([], "--add-key", help="A public key to add (repeat)."),
    revoke_key: list[str] = typer.Option(
        [], "--revoke-key", help="A key to revoke, by fingerprint (repeat)."
    ),
    key: Path | None = SigningKeyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Change a principal's roles, groups, keys or whether they are enabled (signed by you, an
    admin)."""
    from modelledger.identity import keyfile, manage
    from modelledger.ledger.home import open_ledger

    admin = keyfile.load(key)
    keys = _public(add_key)
    with open_ledger() as ledger:
        done = manage.save(
            ledger, admin, name, grant=grant, revoke=revoke, join=join, leave=leave,
            disabled=disable, add_keys=keys, revoke_keys=revoke_key,
        )  # fmt: skip
    _print(done, as_json, "changed")


@app.command("list")
def list_(as_json: bool = JsonOpt) -> None:
    """Everyone, their roles, groups and active keys; and any identity change that did not
    verify."""
    from modelledger.identity import manage
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        d = manage.directory(ledger)
    rows = []
    for who in sorted(d.principals.values(), key=lambda p: p.name):
        keys = [k.fingerprint for k in d.keys_of(who.name) if k.revoked_seq is None]
        rows.append({**who.to_json(), "keys": keys})
    problems = [{"event": seq, "problem": why} for seq, why in d.problems]
    if as_json:
        emit_json({"principals": rows, "problems": problems})
        return
    if not rows:
        typer.echo(
            "no identities yet: `mledger identity keygen`, then `mledger identity init NAME`"
        )
    else:
        t = table("name", "kind", "roles", "groups", "keys", wrap=("roles",))
        for r in rows:
            t.add_row(
                r["name"] + (" (disabled)" if r["disabled"] else ""),
                r["kind"],
                ", ".join(r["grants"]) or "—",
                ", ".join(r["groups"]) or "—",
                ", ".join(r["keys"]) or "—",
            )
        console().print(t)
    for bad in problems:
        typer.echo(f"warning: identity event #{bad['event']} left out: {bad['problem']}", err=True)


@app.command()
def whoami(key: Path | None = SigningKeyOpt, as_json: bool = JsonOpt) -> None:
    """Who your signing key makes you in this ledger (against a registry server: who your
    token makes you there)."""
    from modelledger.identity import keyfile, manage, signing
    from modelledger.ledger.home import open_ledger
    from modelledger.remote.session import Remote

    remote = Remote.from_environment()
    if remote is not None:
        found = remote.get("/whoami")
        if as_json:
            emit_json(found)
        else:
            roles = ", ".join(map(str, found.get("grants", []))) or "no roles"
            typer.echo(f"{found['name']} ({found['kind']}): {roles}  token {found['token']}")
        return
    private = keyfile.load(key)
    with open_ledger() as ledger:
        who = manage.whoami(ledger, private)
    fp = signing.fingerprint(signing.public_key_text(private))
    if as_json:
        emit_json({**who.to_json(), "key": fp})
    else:
        typer.echo(
            f"{who.name} ({who.kind}): {', '.join(map(str, who.grants)) or 'no roles'}  key {fp}"
        )


token_app = typer.Typer(
    help="API tokens for `mledger server`: issued to a principal by an admin (the secret is "
    "shown once; the ledger keeps its sha256), revoked by an admin.",
    no_args_is_help=True,
)


@token_app.command("create")
def token_create(
    principal: str = typer.Argument(..., help="Who the token acts for (a principal's name)."),
    scope: list[str] = typer.Option(
        ["read"], "--scope", help="read, write, approve or admin (repeat); within their roles."
    ),
    expires: str = typer.Option("30d", "--expires", help="How long it lasts: 12h, 30d, 2w …"),
    note: str | None = typer.Option(None, "--note", help="What it is for (recorded)."),
    key: Path | None = SigningKeyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Issue a token (signed by your admin key) and print its secret, once: keep it like a
    password. The server refuses it after --expires, once revoked, or once its principal is
    disabled; it never grants more than the principal's roles."""
    from modelledger.identity import keyfile, tokens
    from modelledger.ledger.home import open_ledger

    admin = keyfile.load(key)
    with open_ledger() as ledger:
        issued = tokens.create(ledger, admin, principal, scope, expires, note)
    if as_json:
        emit_json(issued.to_json())
        return
    t = issued.token
    typer.echo(
        f"token {t.id} for {t.principal} ({', '.join(t.scopes)}), expires {t.expires_at} "
        f"[event #{issued.event_seq}]"
    )
    typer.echo(issued.secret)
    typer.echo("(shown once: the ledger keeps only its sha256)", err=True)


@token_app.command("list")
def token_list(
    everything: bool = typer.Option(False, "--all", help="Expired and revoked ones too."),
    as_json: bool = JsonOpt,
) -> None:
    """Active tokens (every one with --all): id, principal, scopes, expiry. Never secrets."""
    from modelledger.identity import tokens
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        found = tokens.listing(ledger, everything)
    if as_json:
        emit_json(found)
        return
    if not found:
        typer.echo("no active tokens" + ("" if everything else " (--all for every one)"))
        return
    t = table("id", "principal", "scopes", "expires", "status", "note")
    for r in found:
        t.add_row(
            r["id"], r["principal"], ", ".join(r["scopes"]), r["expires_at"], r["status"],
            r["note"] or "—",
        )  # fmt: skip
    console().print(t)


@token_app.command("revoke")
def token_revoke(
    token: str = typer.Argument(..., help="The token's id (or a unique prefix of it)."),
    key: Path | None = SigningKeyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Revoke a token (signed by your admin key): every server refuses it from its next
    request on."""
    from modelledger.identity import keyfile, tokens
    from modelledger.ledger.home import open_ledger

    admin = keyfile.load(key)
    with open_ledger() as ledger:
        done = tokens.revoke(ledger, admin, token)
    if as_json:
        emit_json(done)
    else:
        typer.echo(
            f"revoked token {done['id']} of {done['principal']} [event #{done['revoked_event']}]"
        )
