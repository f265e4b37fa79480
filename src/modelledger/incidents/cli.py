"""``mledger incident open | contain | assess | diagnose | recover | prevent | show | list``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelledger.console.options import JsonOpt, SigningKeyOpt
from modelledger.console.output import console, emit_json, id_shown, table, when

app = typer.Typer(
    help="The incident runbook: open, contain, assess, diagnose, recover, prevent; each step an "
    "event; show the timeline.",
    no_args_is_help=True,
)
IncidentArg = typer.Argument(..., help="The incident (inc-N, or N).")
ApproverOpt = typer.Option(
    [], "--approver", help="Who approved it, on a ledger without identities (else --key signs)."
)
WindowOpt = typer.Option("7d", "--window", "-w", help="How far back: 24h, 7d, 2w.")
PolicyOpt = typer.Option(None, "--policy", help="Drift policy YAML (slices, thresholds).")


def _policy(path: Path | None) -> Any:
    from modelledger.core.parsing import load_mapping
    from modelledger.drift.policy import parse_drift_policy

    return parse_drift_policy(load_mapping(path, "--policy")) if path else None


def _done(found: dict[str, Any], as_json: bool, line: str) -> None:
    if as_json:
        emit_json(found)
    else:
        typer.echo(f"{line}  (event #{found['event']})")


@app.command("open")
def open_(
    env: str = typer.Argument(..., help="Environment the incident is in."),
    source: str | None = typer.Option(
        None, "--from", help="drift_alert:SEQ: the alert event that detected it."
    ),
    reason: str | None = typer.Option(None, "--reason", help="What was seen (a person's report)."),
    as_json: bool = JsonOpt,
) -> None:
    """DETECT: open an incident on the version a drift alert names (its time is the detection),
    or on what is live now with --reason."""
    from modelledger.incidents.opening import open_incident
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        found = open_incident(ledger, env, source, reason)
    line = f"opened {found['incident']} in {env} on {found['label'] or found['version_id']}"
    _done(found, as_json, line)


@app.command("contain")
def contain(
    incident: str = IncidentArg,
    approver: list[str] = ApproverOpt,
    key: Path | None = SigningKeyOpt,
    reason: str | None = typer.Option(None, "--reason", help="Why (default: the incident's)."),
    as_json: bool = JsonOpt,
) -> None:
    """CONTAIN: rehearse the rollback, then roll back to the card's rollback_target or what was
    live before; refused, moving nothing, when the target fails rehearsal."""
    from modelledger.identity import manage
    from modelledger.incidents.contain import contain as run
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        found = run(ledger, incident, approver, manage.signing_key(ledger, key), reason)
    line = (
        f"{found['incident']} contained: {found['env']} {found['from_label']} → {found['to_label']}"
    )
    _done(found, as_json, line + f" after rehearsal #{found['rehearsal']}")


@app.command("assess")
def assess(
    incident: str = IncidentArg,
    window: str = WindowOpt,
    policy: Path | None = PolicyOpt,
    top: int = typer.Option(10, "--top", min=1, help="How many places to keep."),
    as_json: bool = JsonOpt,
) -> None:
    """ASSESS: the bad version's failures (from feedback) by protected slice, by the categories and
    reference bins of drifted inputs, and by failure cluster, ranked by excess failures."""
    from modelledger.incidents.assess import assess as run
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        found = run(ledger, incident, window=window, policy=_policy(policy), top=top)
    if as_json:
        emit_json(found)
        return
    from modelledger.drift.cli import print_explained

    print_explained(found)
    typer.echo(f"recorded as {found['incident']}'s assessment (event #{found['event']})")


@app.command("diagnose")
def diagnose(
    incident: str = IncidentArg,
    cause: str = typer.Option(..., "--cause", help="data | drift | forgetting | scope."),
    note: str | None = typer.Option(None, "--note", help="What you concluded, in words."),
    against: str | None = typer.Option(
        None, "--against", help="data: the good version to diff with (default: the contained one)."
    ),
    window: str = WindowOpt,
    policy: Path | None = PolicyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """DIAGNOSE: record the cause with its evidence — data: the training data diff against the good
    version; drift: the drift report's drifting signals; forgetting: the gate's regressions
    against what is live; scope: the model card's out-of-scope uses. Exit 1, recording nothing,
    when the ledger holds no evidence for the cause."""
    from modelledger.incidents.diagnose import diagnose as run
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        found = run(
            ledger, incident, cause, note=note, against=against, window=window,
            policy=_policy(policy),
        )  # fmt: skip
    line = f"{found['incident']} diagnosed: {cause}: {found['evidence']['summary']}"
    _done(found, as_json, line)


@app.command("recover")
def recover(
    incident: str = IncidentArg,
    candidate: str = typer.Argument(..., help="The retrained version (id, prefix, NAME@N)."),
    canary: float | None = typer.Option(
        None, "--canary", help="Give it this share of traffic (after its shadow)."
    ),
    approver: list[str] = ApproverOpt,
    key: Path | None = SigningKeyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """RECOVER: the retrained candidate must pass the environment's full evidence gate against what
    is live; it then shadows the live version, and with --canary PCT takes that share of traffic.
    Promote it afterwards as any version."""
    from modelledger.identity import manage
    from modelledger.incidents.recover import recover as run
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        found = run(
            ledger,
            incident,
            candidate,
            canary=canary,
            approvers=approver,
            key=manage.signing_key(ledger, key),
        )
    share = f" at {found['percent']:g} %" if found["percent"] else ""
    _done(
        found,
        as_json,
        f"{found['incident']}: {found['label']} {found['stage']}{share}, gate passed",
    )


@app.command("prevent")
def prevent(
    incident: str = IncidentArg,
    place: int = typer.Option(1, "--place", min=1, help="Which assessed place to keep (rank)."),
    name: str | None = typer.Option(None, "--slice", help="The slice's name (default: the id)."),
    metric: str | None = typer.Option(None, "--metric", help="Metric the slice is held to."),
    floor: float | None = typer.Option(None, "--min", help="Its floor on the slice."),
    text: str | None = typer.Option(None, "--limitation", help="The card's new known limitation."),
    key: Path | None = SigningKeyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """PREVENT: keep the assessed failure cluster as a regression case — a new version of the gate's
    eval set holding it, a gate policy requiring its slice — and add it to the bad version's card
    as a known limitation. Closes the incident."""
    from modelledger.identity import manage
    from modelledger.incidents.prevent import prevent as run
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        found = run(
            ledger, incident, place=place, name=name, metric=metric, floor=floor, text=text,
            key=manage.signing_key(ledger, key),
        )  # fmt: skip
    line = (
        f"{found['incident']} closed: slice {found['slice']} ({found['where']}) required on "
        f"{id_shown(found['eval_set']['to'])}; {found['card']['label']}'s card amended"
    )
    _done(found, as_json, line)


@app.command("show")
def show(incident: str = IncidentArg, as_json: bool = JsonOpt) -> None:
    """The timeline from detection to prevention, with the time each step took."""
    from modelledger.incidents.incident import duration_text
    from modelledger.incidents.reads import show as run
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        found = run(ledger, incident)
    if as_json:
        emit_json(found)
        return
    out = console()
    out.print(
        f"[bold]{found['incident']}[/bold] {found['env']} {found['label'] or found['version_id']}: "
        f"{found['status']}, {duration_text(found['elapsed_s'])} since detection"
    )
    t = table("step", "at", "after", "total", "event", "what", wrap=("what",))
    for row in found["timeline"]:
        t.add_row(
            row["step"], when(row["at"]), duration_text(row["since_previous_s"]),
            duration_text(row["since_detection_s"]), str(row["event"] or ""),
            row.get("summary", ""),
        )  # fmt: skip
    out.print(t)


@app.command("list")
def list_(
    env: str | None = typer.Option(None, "--env", help="Only this environment's."),
    as_json: bool = JsonOpt,
) -> None:
    """Every incident, oldest first, with its furthest step."""
    from modelledger.incidents.incident import duration_text
    from modelledger.incidents.reads import list_incidents
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        found = list_incidents(ledger, env)
    if as_json:
        emit_json(found)
        return
    if not found:
        typer.echo("no incidents")
        return
    t = table("incident", "env", "version", "status", "detected", "elapsed")
    for i in found:
        t.add_row(
            i["incident"], i["env"], i["label"] or i["version_id"], i["status"],
            when(i["detected_at"]), duration_text(i["elapsed_s"]),
        )  # fmt: skip
    console().print(t)
