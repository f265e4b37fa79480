"""``mledger request list|show``, ``mledger approve`` and ``mledger reject``: promotion requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelledger.console.options import JsonOpt, SigningKeyOpt
from modelledger.console.output import console, emit_json, kv_table, table, when
from modelledger.releases.cli.gate_view import print_gate

app = typer.Typer(
    help="Promotion requests waiting for (or decided by) approvers.", no_args_is_help=True
)
RequestArg = typer.Argument(..., help="Request id (pr-…, or a unique prefix of it).")
DONE = {"approve": "approved", "reject": "rejected"}


def print_request(state: Any) -> None:
    r = state.request
    need = state.need
    who = f" from {', '.join(state.from_)}" if state.from_ else ""
    rows = [
        ("request", r.id),
        ("status", f"{state.status}{': ' + state.detail if state.detail else ''}"),
        ("promote", f"{r.label} to {r.env}  {r.version}"),
        ("replacing", r.previous or "nothing"),
        ("requested", f"by {r.requester} at {when(r.requested_at)}; expires {when(r.expires_at)}"),
        (
            "approvals",
            f"{len(state.approved_by)} of {need}{who}: {', '.join(state.approved_by) or 'none yet'}",
        ),
    ]
    if r.reason:
        rows.append(("reason", r.reason))
    if r.action == "override":
        rows.append(("override", "the gate's evidence failed; the policy allows an override"))
    console().print(kv_table(rows))
    if state.status == "pending":
        print_gate(r.gate, f"gate {r.env}: {r.label} (evidence at request time)")


@app.command("list")
def list_(
    env: str | None = typer.Option(None, "--env", help="Only this environment's requests."),
    everything: bool = typer.Option(False, "--all", help="Decided, expired and superseded too."),
    as_json: bool = JsonOpt,
) -> None:
    """Pending promotion requests (all of them with --all), oldest first."""
    from modelledger.ledger.home import read
    from modelledger.releases.workflow import RequestState, listing

    shown = read(
        "/requests",
        lambda ledger: [s.to_json() for s in listing(ledger, env, everything)],
        {"env": env, "all": everything},
    )
    found = [RequestState.from_json(d) for d in shown]
    if as_json:
        emit_json([s.to_json() for s in found])
        return
    if not found:
        typer.echo(
            "no pending promotion requests" + ("" if everything else " (--all for every one)")
        )
        return
    t = table("request", "status", "promote", "env", "requester", "approvals", "expires")
    for s in found:
        t.add_row(
            s.request.id[:15], s.status, s.request.label, s.request.env, s.request.requester,
            f"{len(s.approved_by)}/{s.need}", when(s.request.expires_at),
        )  # fmt: skip
    console().print(t)


@app.command()
def show(request: str = RequestArg, as_json: bool = JsonOpt) -> None:
    """One request: what it would move, its gate report, who approved or rejected it."""
    from modelledger.ledger.home import read
    from modelledger.releases.workflow import RequestState
    from modelledger.releases.workflow import show as load
    from modelledger.remote.session import route

    shown = read(route("requests", request), lambda ledger: load(ledger, request).to_json())
    state = RequestState.from_json(shown)
    if as_json:
        emit_json(state.to_json())
    else:
        print_request(state)
        for a in state.approvals:
            typer.echo(
                f"  {DONE[a.decision]} by {a.principal} at {when(a.at)}"
                + (f": {a.reason}" if a.reason else "")
            )


def _decide(
    request: str, key: Path | None, decision: str, reason: str | None, as_json: bool
) -> None:
    from modelledger.identity import keyfile
    from modelledger.ledger.home import open_ledger
    from modelledger.releases.remote import decide as remote_decide
    from modelledger.releases.workflow import decide_request
    from modelledger.remote.session import Remote

    private = keyfile.load(key)
    remote = Remote.from_environment()
    if remote is not None:
        done = remote_decide(remote, request, private, decision, reason)
    else:
        with open_ledger() as ledger:
            done = decide_request(ledger, request, private, decision, reason).to_json()
    if as_json:
        emit_json(done)
        return
    s = done["request"]
    principal = done["decision"]["principal"]
    typer.echo(f"{DONE[decision]} {s['id'][:15]} as {principal} (event #{done['event']})")
    if done["promoted"]:
        verb = "OVERRIDE: promoted" if done["promotion"]["action"] == "override" else "promoted"
        typer.echo(f"{verb} {s['label']} to {s['env']}  {s['version']}")
        typer.echo(
            f"  approved by {', '.join(s['approved_by'])}; previous: {s['previous'] or 'nothing'}"
        )
    elif s["status"] == "pending":
        typer.echo(
            f"  {len(s['approved_by'])} of {s['needs']['count']} approvals; waiting for more"
        )
    else:
        typer.echo(f"  request {s['status']}: {s['detail']}")


def approve(
    request: str = RequestArg,
    reason: str | None = typer.Option(None, "--reason", help="Recorded with your signature."),
    key: Path | None = SigningKeyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Sign your approval of a promotion request; the last approval needed moves the environment.
    Refused (exit 3) for the requester, the registrant and anyone without the approver role."""
    _decide(request, key, "approve", reason, as_json)


def reject(
    request: str = RequestArg,
    reason: str = typer.Option(..., "--reason", help="Why (the requester reads it)."),
    key: Path | None = SigningKeyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Sign a rejection: the request is closed and nothing moves."""
    _decide(request, key, "reject", reason, as_json)
