"""``mledger audit …``: the tamper-evident event ledger."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from modelledger.core.checkpoint import Checkpoint

from modelledger.console.options import SinceOpt, UntilOpt
from modelledger.console.output import JSON_HELP, console, emit_json, id_shown, table, when
from modelledger.predictions.cli import audit_prediction

app = typer.Typer(help="Read and verify the hash-chained event ledger.", no_args_is_help=True)
app.command("prediction")(audit_prediction)


@app.command()
def log(
    subject: str | None = typer.Option(
        None, "--subject", help="Only events about this: an id or prefix, NAME@N, NAME@ENV."
    ),
    kind: str | None = typer.Option(
        None, "--kind", help="Only events of this kind, e.g. model.registered, promotion."
    ),
    env: str | None = typer.Option(
        None, "--env", help="Only events about this environment (promotions, rollbacks, …)."
    ),
    actor: str | None = typer.Option(None, "--actor", help="Only events by this person."),
    since: str | None = SinceOpt,
    until: str | None = UntilOpt,
    limit: int = typer.Option(50, "--limit", min=1, help="The newest N events."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List events, oldest of the newest N first."""
    from modelledger.core.errors import InvalidInput
    from modelledger.ledger.audit import EventQuery
    from modelledger.ledger.audit import log as read_log
    from modelledger.ledger.home import read
    from modelledger.models.resolve import resolve_subject

    if subject and env:
        raise InvalidInput("give --subject or --env, not both")
    query = EventQuery(subject or env, kind, actor, since, until, limit)
    total: int | None = None

    def local(ledger: Any) -> list[dict[str, Any]]:
        nonlocal total
        found = read_log(ledger, query, resolve=resolve_subject)
        total = found.total
        return [e.to_json() for e in found.events]

    asked = {"subject": subject or env, "kind": kind, "actor": actor, "since": since}
    events = read("/events", local, {**asked, "until": until, "limit": limit})
    _check_hashes(events)
    if as_json:
        emit_json(events)
        return
    if not events:
        typer.echo(f"no events match (the ledger holds {total})" if total else "no events yet")
        return
    t = table("seq", "at", "kind", "subject", "actor", "hash")
    for e in events:
        t.add_row(
            str(e["seq"]),
            when(e["at"]),
            e["kind"],
            id_shown(e["subject"]),
            e["actor"],
            e["hash"][:8],
        )
    console().print(t)


def _check_hashes(events: list[dict[str, Any]]) -> None:
    """Each event read hashes to its ``hash`` (a server's answer is checked like a table's)."""
    from modelledger.core.errors import CheckFailed
    from modelledger.core.events import first_unsound

    bad = first_unsound(events)
    if bad is not None:
        raise CheckFailed(
            f"event #{bad} does not hash to its recorded hash: it was altered after it "
            "was written (run `mledger audit verify` on the ledger)"
        )


CheckpointOpt = typer.Option(
    None,
    "--checkpoint",
    help="A checkpoint file (audit checkpoint) the ledger must extend; repeatable.",
)


@app.command()
def verify(
    checkpoint: list[Path] = CheckpointOpt,
    public_key: list[str] = typer.Option(
        None, "--public-key", help="Also trust checkpoints signed by this key (rotated keys)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Check the whole ledger: the event chain, every row against the event that wrote it, each
    batch of logged predictions against its Merkle root, ids against their contents, the
    environments and labels against their history, and each --checkpoint given. Exit 1 names
    the first damage of each kind."""
    from modelledger.cli.id_recipes import RECIPES
    from modelledger.console.progress import LazyProgress
    from modelledger.ledger import integrity, keys
    from modelledger.ledger.home import open_ledger
    from modelledger.releases.approvals_audit import ApprovalsCheck

    points = [_read_checkpoint(p) for p in checkpoint or []]
    trusted = [keys.public_key_file(Path(k)) for k in public_key or []]
    with open_ledger() as ledger:
        own = _own_key(ledger)
        with LazyProgress("verifying", enabled=not as_json, unit="rows") as progress:
            total = integrity.total_rows(ledger)
            progress.total(total)
            report = integrity.verify_ledger(
                ledger, RECIPES, points, [*trusted, *own], progress.advance, total=total,
                checks=[ApprovalsCheck()],
            )  # fmt: skip
    if as_json:
        emit_json(
            {
                "ok": report.ok,
                "events": report.events,
                "head": report.head,
                "root": report.root,
                "rows": report.rows,
                "predictions": report.predictions,
                "checkpoints": report.checkpoints,
                "damage": [d.to_json() for d in report.damage],
            }
        )
    elif report.ok:
        rows = sum(report.rows.values())
        typer.echo(f"ok: {_n(report.events, 'event')}, chain intact, root {report.root[:16]}…")
        typer.echo(f"ok: {rows} rows and {report.predictions} predictions match their events")
        for c in report.checkpoints:
            typer.echo(f"ok: extends the checkpoint of {_n(c['size'], 'event')} at {c['at']}")
    else:
        typer.echo(f"DAMAGED: {len(report.damage)} problem(s) found", err=True)
        for d, n in report.first_of_each():
            more = f" (and {n - 1} more)" if n > 1 else ""
            typer.echo(f"  {d.kind}: {d.where}: {d.detail}{more}", err=True)
    if not report.ok:
        raise typer.Exit(1)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _own_key(ledger: object) -> list[str]:
    """The public half of the ledger's own key, when its home holds one."""
    from modelledger.core.checkpoint import public_key_text
    from modelledger.ledger import keys

    home = ledger.config.home  # type: ignore[attr-defined]
    if home is None or not (home / keys.KEY_FILE).exists():
        return []
    return [public_key_text(keys.load(home / keys.KEY_FILE))]


def _read_checkpoint(path: Path) -> Checkpoint:
    from modelledger.ledger.proofs import read_checkpoint

    return read_checkpoint(_read_json(path), str(path))


def _read_json(path: Path) -> dict:  # type: ignore[type-arg]
    import json

    from modelledger.core.errors import InvalidInput

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror or exc}") from None
    try:
        found = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{path}: not JSON ({exc})") from None
    if not isinstance(found, dict):
        raise InvalidInput(f"{path}: not a checkpoint or proof")
    return found


def _write(document: dict, out: Path | None) -> None:  # type: ignore[type-arg]
    import json

    # plain JSON, not canonical: a proof's row values are checked as they were stored
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)


KeyOpt = typer.Option(None, "--key", help="The signing key (default: the home's keys/ledger.key).")


@app.command("checkpoint")
def checkpoint_cmd(
    out: Path | None = typer.Option(None, "--out", "-o", help="Write it here (default: stdout)."),
    key: Path | None = KeyOpt,
) -> None:
    """Sign a statement of the log's head (size, Merkle root, last hash, time). Keep it outside
    the ledger's machine: `audit verify --checkpoint FILE` later proves the ledger extends it."""
    from modelledger.core.checkpoint import read
    from modelledger.ledger import proofs
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        document = proofs.take(ledger, key)
    _write(document, out)
    if out is not None:
        c = read(document)
        typer.echo(
            f"checkpoint of {_n(c.size, 'event')}, root {c.root[:16]}…, key {c.fingerprint} → {out}"
        )


@app.command()
def prove(
    event: int | None = typer.Option(None, "--event", min=1, help="Prove this event is logged."),
    request: str | None = typer.Option(
        None, "--request", help="Prove this request's logged prediction."
    ),
    old: Path | None = typer.Option(
        None, "--from", help="Prove the log extends this earlier checkpoint."
    ),
    new: Path | None = typer.Option(
        None, "--to", help="…up to this later checkpoint (default: a new one now)."
    ),
    against: Path | None = typer.Option(
        None, "--checkpoint", help="Prove --event/--request against this checkpoint (default: new)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write it here (default: stdout)."),
    key: Path | None = KeyOpt,
) -> None:
    """An RFC 6962 inclusion or consistency proof, O(log n) hashes, with the signed checkpoints
    it rests on: `python -m modelledger.verify FILE` checks it without the ledger."""
    from modelledger.core.errors import InvalidInput
    from modelledger.ledger import proofs
    from modelledger.ledger.home import open_ledger

    asked = [x for x in (event, request, old) if x is not None]
    if len(asked) != 1:
        raise InvalidInput("give one of --event SEQ, --request ID or --from CHECKPOINT")
    if new is not None and old is None:
        raise InvalidInput("--to goes with --from")
    base = _read_json(against) if against is not None else None
    with open_ledger() as ledger:
        if event is not None:
            document = proofs.inclusion(ledger, event, base, key)
        elif request is not None:
            document = proofs.prediction(ledger, request, base, key)
        else:
            assert old is not None
            later = _read_json(new) if new is not None else None
            document = proofs.consistency(ledger, _read_json(old), later, key)
    _write(document, out)
    if out is not None:
        typer.echo(
            f"{document['type']} proof → {out}; check it: python -m modelledger.verify {out}"
        )
