"""Going live and coming back: ``gate check``, ``promote``, ``rehearse`` and ``rollback``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelledger.console.options import JsonOpt, SigningKeyOpt
from modelledger.console.output import console, emit_json, shorten_ids, table
from modelledger.core.errors import InvalidInput
from modelledger.releases.cli.gate_view import print_gate
from modelledger.releases.cli.requests import print_request

gate = typer.Typer(help="Evaluate a candidate against an environment's gate.", no_args_is_help=True)
ApproverOpt = typer.Option(
    [],
    "--approver",
    help="Who approved it, on a ledger without identities (with them, --key signs instead).",
)


def print_checks(checks: list[dict[str, Any]], title: str) -> None:
    t = table("version", "check", "result", "detail", title=title, wrap=("detail",))
    style = {"pass": "[green]pass[/green]", "fail": "[red bold]FAIL[/red bold]", "skip": "skip"}
    for c in checks:
        who = f"{c['role']} {c['label'] or ''}".strip()
        t.add_row(who, c["check"], style[c["status"]], shorten_ids(c["detail"]))
    console().print(t)


@gate.command("check")
def check(
    ref: str = typer.Argument(..., help="Candidate version (id, prefix, NAME@N)."),
    env: str = typer.Option(..., "--env", help="Environment whose gate to run."),
    as_json: bool = JsonOpt,
) -> None:
    """One row per criterion (value, bar, pass/fail) against what is live; exit 1 on any failure.
    Approvals are judged on the promotion request (`mledger promote`, `mledger approve`)."""
    from modelledger.ledger.home import read
    from modelledger.releases.gatekeeper import check as run
    from modelledger.releases.gatekeeper import decision_json
    from modelledger.remote.session import route

    found = read(
        route("environments", env, "gate"),
        lambda ledger: decision_json(run(ledger, ref, env)),
        {"ref": ref},
    )
    if as_json:
        emit_json(found)
    else:
        live = found["live_label"] or found["live"] or "nothing live: absolute floors only"
        print_gate(found, f"gate {env}: {found['candidate_label']} vs {live}")
        verdict = "passes" if found["passed"] else "FAILS"
        need = found["approvals_needed"]
        note = (
            f"; promotion then needs {need} signed approval{'s' if need != 1 else ''}"
            if need
            else ""
        )
        typer.echo(f"{found['candidate_label']} {verdict} the {env} gate{note}")
    if not found["passed"]:
        raise typer.Exit(1)


def promote(
    ref: str = typer.Argument(..., help="Version to put live (id, prefix, NAME@N)."),
    to: str = typer.Option(..., "--to", help="Environment, e.g. production."),
    reason: str | None = typer.Option(None, "--reason", help="Why (recorded in the event)."),
    override: bool = typer.Option(
        False, "--override", help="Go live despite a failed gate (only if the policy allows it)."
    ),
    expect_live: str | None = typer.Option(
        None, "--expect-live", help="Only if this id (or 'none') is live now: safe in automation."
    ),
    expires: str = typer.Option(
        "7d", "--expires", help="How long the request waits for approvals (e.g. 24h, 7d)."
    ),
    key: Path | None = SigningKeyOpt,
    approver: list[str] = typer.Option([], "--approver", hidden=True),
    as_json: bool = JsonOpt,
) -> None:
    """Run the gate; on a pass, move ENV to the pinned id when its policy asks for no approval,
    else open a promotion request (signed by you) that approvers decide with `mledger approve`.
    The move happens when the last approval needed is in."""
    from modelledger.identity import keyfile, manage
    from modelledger.ledger.home import open_ledger
    from modelledger.releases.promote import GateFailed, Promotion
    from modelledger.releases.promote import promote as run
    from modelledger.releases.remote import RemoteGateFailed
    from modelledger.releases.remote import promote as remote_promote
    from modelledger.releases.workflow import RequestState
    from modelledger.remote.session import Remote

    if approver:
        raise InvalidInput(
            "--approver is gone: an approval is a signature by the approver, who runs "
            "`mledger approve REQUEST` with their own key (docs/tutorials/s09-signed-approvals.md)"
        )
    remote = Remote.from_environment()
    try:
        if remote is not None:
            answer = remote_promote(
                remote, ref, to, reason, override, expect_live, keyfile.load_if_any(key), expires
            )
        else:
            with open_ledger() as ledger:
                signer = manage.signing_key(ledger, key)
                done = run(ledger, ref, to, reason, override, expect_live, signer, expires)
            answer = (
                {"promoted": True, **done.to_json()}
                if isinstance(done, Promotion)
                else {"promoted": False, "request": done.to_json()}
            )
    except (GateFailed, RemoteGateFailed) as failed:
        if isinstance(failed, GateFailed):
            report, label = failed.decision.report.to_json(), failed.decision.candidate.label
        else:
            report, label = failed.gate, ref
        if as_json:
            emit_json({"promoted": False, **report})
        else:
            print_gate(report, f"gate {to}: {label}")
        typer.echo(f"error: {failed}; nothing was changed", err=True)
        raise typer.Exit(1) from None
    if as_json:
        emit_json(answer)
        return
    if not answer["promoted"]:
        state = RequestState.from_json(answer["request"])
        print_request(state)
        typer.echo(f"approvers run: mledger approve {state.request.id[:15]}")
        return
    print_promoted(answer)


def print_promoted(done: dict[str, Any]) -> None:
    """A promotion's JSON (``promote --json``, or an approval that completed one), in lines."""
    verb = "OVERRIDE: promoted" if done["action"] == "override" else "promoted"
    typer.echo(f"{verb} {done['label']} to {done['env']}  {done['id']}")
    for c in done["gate"]["criteria"]:
        if not c["passed"]:
            typer.echo(f"  waived: {c['name']}: {c['detail']}")
    typer.echo(f"  previous: {done['previous'] or 'nothing'}; event #{done['event']}")


def rehearse(
    env: str = typer.Argument(..., help="Environment to rehearse a rollback of."),
    as_json: bool = JsonOpt,
) -> None:
    """Check the live version and its rollback target can be served (bytes, lock, load in a fresh
    process, serving contract); records a rehearsal event; exit 1 on any failure."""
    from modelledger.ledger.home import open_ledger
    from modelledger.releases.rehearse import rehearse as run
    from modelledger.remote.session import Remote, route

    remote = Remote.from_environment()
    if remote is not None:
        done = remote.post(route("environments", env, "rehearsal"))
    else:
        with open_ledger() as ledger:
            done = run(ledger, env).to_json()
    if as_json:
        emit_json(done)
    else:
        target = done["target"]["label"] if done["target"] else "no target"
        print_checks(done["checks"], f"rehearsal {env}: {done['current']['label']} → {target}")
        verdict = "passed" if done["passed"] else "FAILED"
        skipped = [c["check"] for c in done["checks"] if c["status"] == "skip"]
        note = f"; not checked: {', '.join(sorted(set(skipped)))}" if skipped else ""
        typer.echo(f"rehearsal {verdict} (event #{done['event']}{note})")
    if not done["passed"]:
        raise typer.Exit(1)


def rollback(
    env: str = typer.Argument(..., help="Environment to roll back."),
    to: str | None = typer.Option(
        None, "--to", help="Version to return to (must have been live in ENV before)."
    ),
    approver: list[str] = ApproverOpt,
    reason: str = typer.Option("", "--reason", help="Why (required; recorded in the event)."),
    key: Path | None = SigningKeyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Flip ENV back to the previously live version (or --to, or the card's rollback_target),
    after checking it can be served. Refuses, changing nothing, when the target fails rehearsal."""
    from modelledger.identity import keyfile, manage
    from modelledger.ledger.home import open_ledger
    from modelledger.releases.rehearse import RehearsalFailed
    from modelledger.releases.remote import RemoteRollbackFailed
    from modelledger.releases.remote import rollback as remote_rollback
    from modelledger.releases.rollback import rollback as run
    from modelledger.remote.session import Remote

    remote = Remote.from_environment()
    try:
        if remote is not None:
            if approver:
                raise InvalidInput("through the server a rollback is signed (--key), not typed")
            done = remote_rollback(remote, env, to, reason, keyfile.load_if_any(key))
        else:
            with open_ledger() as ledger:
                made = run(ledger, env, approver, reason, to, manage.signing_key(ledger, key))
            done = {"rolled_back": True, **made.to_json()}
    except (RehearsalFailed, RemoteRollbackFailed) as failed:
        checks = (
            [c.to_json() for c in failed.checks]
            if isinstance(failed, RehearsalFailed)
            else failed.checks
        )
        if as_json:
            emit_json({"rolled_back": False, "checks": checks})
        else:
            print_checks(checks, f"rollback {env}: target checks")
        typer.echo(f"error: {failed}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        emit_json(done)
        return
    typer.echo(f"rolled back {env}: {done['previous_label']} → {done['label']}  {done['id']}")
    typer.echo(f"  event #{done['event']}")
