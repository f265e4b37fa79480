"""``mledger reproduce REF``: rebuild a version from its tuple and check the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelledger.console.options import JsonOpt
from modelledger.console.output import console, emit_json


def reproduce(
    ref: str = typer.Argument(..., help="Version: full id, unique prefix, or NAME@N."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the plan; run nothing."),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="Empty folder to build in (default: under .mledger/)."
    ),
    tolerance: float = typer.Option(
        0.01, "--tolerance", min=0.0, help="Largest metric difference that still matches."
    ),
    alpha: float = typer.Option(
        0.01, "--alpha", min=0.0, max=1.0, help="Outputs differ below this p-value."
    ),
    timeout: float = typer.Option(3600.0, "--timeout", min=1.0, help="Seconds the run may take."),
    offline: bool = typer.Option(
        False, "--offline", help="Install the lock from no package index."
    ),
    keep: bool = typer.Option(False, "--keep", help="Leave the workspace in place."),
    as_json: bool = JsonOpt,
) -> None:
    """Rebuild a version from its tuple (worktree at the recorded commit and diff, data
    checkouts, the locked packages, the recorded command and seed), then check the artifact
    bitwise, and behaviourally on its eval set when the bytes differ. Exit 1 unless it
    reproduced; the outcome is a `reproduction` event that `model show` shows."""
    from modelledger.ledger.home import open_ledger
    from modelledger.reproduce.run import Options
    from modelledger.reproduce.run import dry_run as plan_only
    from modelledger.reproduce.run import reproduce as run

    with open_ledger() as ledger:
        if dry_run:
            done = plan_only(ledger, ref)
        else:
            say = (lambda s: None) if as_json else (lambda s: typer.echo(f"  {s}", err=True))
            options = Options(workdir, tolerance, alpha, timeout, offline, keep)
            done = run(ledger, ref, options, say)
    if as_json:
        emit_json(done)
    else:
        _print(done, dry_run)
    if not dry_run and done.get("outcome") not in ("bitwise", "behavioural"):
        raise typer.Exit(1)


def _print(done: dict[str, Any], dry_run: bool) -> None:
    out = console()
    shown = dry_run or done.get("outcome") == "not reproducible"
    for s in done["steps"] if shown else []:
        mark = "ok  " if s["ok"] else "MISS"
        out.print(
            f"{mark} {s['step']}: {s['what']}" + (f" — {s['missing']}" if s["missing"] else "")
        )
    if dry_run:
        out.print(
            "runnable"
            if done["runnable"]
            else "cannot be reproduced: " + "; ".join(done["missing"])
        )
        return
    outcome = done["outcome"]
    if outcome == "bitwise":
        out.print(f"reproduced {done['label']} bitwise: sha256 {done['sha256'][:12]} matches")
    elif outcome == "behavioural":
        o = done["behaviour"]["outputs"]
        out.print(
            f"reproduced {done['label']} behaviourally: the bytes differ, the outputs on eval set "
            f"{done['behaviour']['eval_set'][:15]} do not ({o['test']} p = {o['p_value']:.3g}, "
            f"{o['agreement']:.1%} answered alike)"
        )
    elif outcome == "not reproducible":
        out.print(f"{done['label']} cannot be reproduced: " + "; ".join(done["missing"]))
    elif outcome == "failed":
        out.print(f"reproducing {done['label']} failed: {done['error']}")
    else:
        b = done.get("behaviour", {})
        why = (
            b.get("why")
            or f"outputs differ ({b.get('outputs', {}).get('test')} p = {b.get('outputs', {}).get('p_value')})"
        )
        out.print(f"{done['label']} did not reproduce: {why}")
    out.print(f"recorded as event #{done['event']}")
