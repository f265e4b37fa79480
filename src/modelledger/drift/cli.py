"""``mledger drift check | baseline | explain``: is the world still the one each live version
was trained for, and where do its failures concentrate when it is not?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelledger.console.options import JsonOpt
from modelledger.console.output import NOTHING_TO_ACT_ON, console, emit_json, table, when

app = typer.Typer(
    help="Drift per version and per slice: input, output, quality; alerts and retrain triggers.",
    no_args_is_help=True,
)
_STYLE = {"alert": "bold red", "warn": "yellow", "insufficient": "dim", "ok": "green"}


def _policy(path: Path | None) -> Any:
    from modelledger.core.parsing import load_mapping
    from modelledger.drift.policy import parse_drift_policy

    return parse_drift_policy(load_mapping(path, "--policy") if path else None)


@app.command("check")
def check(
    env: str = typer.Argument(..., help="Environment whose served traffic to check."),
    window: str = typer.Option("24h", "--window", "-w", help="How far back: 30m, 24h, 7d, 2w."),
    until: str | None = typer.Option(
        None, "--until", help="End of the window (ISO-8601; default now)."
    ),
    version: str | None = typer.Option(
        None, "--version", help="Only this version (any reference, e.g. fraud@3)."
    ),
    policy: Path | None = typer.Option(
        None, "--policy", help="Drift policy YAML (thresholds, quality floor, slice definitions)."
    ),
    html: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML report."),
    trigger_retrain: bool = typer.Option(
        False, "--trigger-retrain", help="On alert, also record a retrain_triggered event."
    ),
    webhook: str | None = typer.Option(
        None,
        "--webhook",
        help="On alert, POST the alert JSON here, signed with HMAC-SHA256 of "
        "$MLEDGER_WEBHOOK_SECRET (header X-Mledger-Signature).",
    ),
    show_all: bool = typer.Option(False, "--all", help="List the signals that are ok, too."),
    as_json: bool = JsonOpt,
) -> None:
    """Input drift (PSI with KS / chi-square), output drift, quality from feedback against the
    gate's floor, and quality per protected slice, for each version that served in the window.

    Exit 0 when nothing alerts ("insufficient data" for some signals is said, never hidden), 1
    on any alert (an alert records a drift_alert event per signal), 3 when no signal could be
    judged at all (no traffic in the window, or too little of it)."""
    from modelledger.drift import alerts as drift_alerts
    from modelledger.drift.check import check as run
    from modelledger.ledger.home import open_ledger

    rules = _policy(policy)
    secret = drift_alerts.webhook_secret(webhook)
    with open_ledger() as ledger:
        result = run(ledger, env, window=window, until=until, version=version, policy=rules)
        payload = drift_alerts.record(ledger, result, trigger_retrain=trigger_retrain)
    report = result.to_json()
    if html is not None:
        from modelledger.drift.report.page import write_html

        write_html(report, html)
    if as_json:
        emit_json(report)
    else:
        _print(report, show_all)
        if html is not None:
            typer.echo(f"report: {html}")
    if payload is not None and webhook is not None and secret is not None:
        status = drift_alerts.post(webhook, payload, secret)
        if not as_json:
            typer.echo(f"webhook: {webhook} answered {status}")
    if result.alerts():
        raise typer.Exit(1)
    judged = [s for v in report["versions"] for s in v["signals"] if s["status"] != "insufficient"]
    if not judged:
        raise typer.Exit(NOTHING_TO_ACT_ON)


def _print(report: dict[str, Any], show_all: bool) -> None:
    out = console()
    status = report["status"]
    w = report["window"]
    out.print(
        f"drift in [bold]{report['env']}[/bold], {when(w['since'])} → {when(w['until'])} ({w['text']}): "
        f"[{_STYLE[status]}]{status}[/]"
    )
    if report.get("message"):
        out.print(f"  {report['message']}")
    for v in report["versions"]:
        ref = v["reference"]
        source = (
            f"reference: {ref['source']} profile, {ref['rows']:,} rows" if ref else "no reference"
        )
        out.print(
            f"\n[bold]{v['label']}[/bold]  {v['predictions']:,} predictions  {source}  "
            f"[{_STYLE[v['status']]}]{v['status']}[/]"
        )
        # signals short of observations are summed up in one line, not a row each
        few = [s for s in v["signals"] if s["message"].startswith("insufficient data")]
        shown = [
            s for s in v["signals"]
            if (show_all or s["status"] != "ok") and (show_all or s not in few)
        ]  # fmt: skip
        hidden = len(v["signals"]) - len(shown) - (0 if show_all else len(few))
        if shown:
            t = table("status", "signal", "name", "value", "n", "why", wrap=("why",))
            for s in shown:
                value = "—" if s["value"] is None else f"{s['value']:.3g}"
                t.add_row(
                    f"[{_STYLE[s['status']]}]{s['status']}[/]",
                    s["kind"].replace("_", " "),
                    s["name"],
                    value,
                    f"{s['n']:,}",
                    s["message"],
                )
            out.print(t)
        if few and not show_all:
            names = ", ".join(s["name"] for s in few)
            out.print(
                f"  [dim]insufficient data[/] for {len(few)} signal(s) ({names}): fewer than "
                f"{report['policy']['min_observations']} observations each (--all lists them)"
            )
        if hidden:
            out.print(f"  {hidden} signal(s) ok (--all lists them)")
    if report["events"]:
        out.print(f"\nrecorded events: {', '.join(f'#{e}' for e in report['events'])}")


@app.command("baseline")
def baseline(
    env: str = typer.Argument(..., help="Environment whose served traffic becomes the reference."),
    window: str = typer.Option("7d", "--window", "-w", help="How far back: 24h, 7d, 2w."),
    version: str | None = typer.Option(
        None, "--version", help="Whose traffic (default: the busiest version in the window)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Take a reference profile from served traffic, for versions registered without tabular
    training data (or to re-anchor after an accepted shift). Later checks use the newest profile."""
    from modelledger.drift.baseline import take_baseline
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        found = take_baseline(ledger, env, window=window, version=version)
    if as_json:
        emit_json(found)
        return
    typer.echo(
        f"reference profile for {found['label']}: {found['features']} features from "
        f"{found['rows']:,} served predictions ({when(found['window']['since'])} → "
        f"{when(found['window']['until'])}), profile {found['profile'][:12]}"
    )


@app.command("explain")
def explain(
    env: str = typer.Argument(..., help="Environment the version served in."),
    version: str = typer.Option(..., "--version", help="The version whose failures to explain."),
    window: str = typer.Option("7d", "--window", "-w", help="How far back: 24h, 7d, 2w."),
    policy: Path | None = typer.Option(None, "--policy", help="Drift policy YAML (slices)."),
    top: int = typer.Option(10, "--top", min=1, help="How many places to list."),
    as_json: bool = JsonOpt,
) -> None:
    """Where the version's failures (feedback: wrong) concentrate: by protected slice, by the
    categories and reference bins of drifted features, and by failure cluster, ranked by excess
    failures over the version's overall failure rate (incident runbook, step 3 ASSESS)."""
    from modelledger.drift.explain import explain as run
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        found = run(ledger, env, version=version, window=window, policy=_policy(policy), top=top)
    if as_json:
        emit_json(found)
        return
    print_explained(found)


def print_explained(found: dict[str, Any]) -> None:
    """Where failures concentrate (``drift explain``'s answer), as a table."""
    out = console()
    out.print(
        f"[bold]{found['label']}[/bold] in {found['env']}: {found['failures']:,} failures of "
        f"{found['judged']:,} predictions with feedback ({found['failure_rate']:.1%})"
    )
    if not found["places"]:
        out.print(f"  {found.get('message') or 'no failures to explain'}")
        return
    t = table("rank", "where", "failures", "of", "rate", "lift", "excess", "share")
    for i, p in enumerate(found["places"], 1):
        t.add_row(
            str(i),
            p["where"],
            f"{p['failures']:,}",
            f"{p['n']:,}",
            f"{p['rate']:.1%}",
            f"{p['lift']:.2f}×",
            f"{p['excess']:+.1f}",
            f"{p['share']:.0%}",
        )
    out.print(t)
    if found["clusters"]:
        listed = ", ".join(f"{c['cluster']} ({c['failures']})" for c in found["clusters"][:5])
        out.print(f"failure clusters: {listed}")
