"""``mledger predictions import``, ``mledger feedback import`` and ``mledger audit prediction``:
the inference log from external servers, the ground truth that arrives later, and the one-screen
answer to "what served this request, and why was it live?"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from modelledger.console.options import JsonOpt
from modelledger.console.output import (
    NOTHING_TO_ACT_ON,
    console,
    emit_json,
    id_shown,
    kv_table,
    table,
    when,
)

app = typer.Typer(
    help="The inference log: import predictions from serving, export them, compare arms.",
    no_args_is_help=True,
)
feedback_app = typer.Typer(
    help="Ground truth for logged predictions (labels, was_correct, failure clusters).",
    no_args_is_help=True,
)


@app.command("import")
def import_predictions(
    file: Path = typer.Argument(..., help="JSONL (one prediction per line) or Parquet file."),
    env: str = typer.Option(..., "--env", "-e", help="Environment that served them."),
    as_json: bool = JsonOpt,
) -> None:
    """Append predictions to the log, all or nothing: a bad line is named and nothing is written.

    Fields per record: version_id (full mv-/sys- id) and output are required; request_id (minted
    when absent), system_id, arm, mode (served|shadow), served_at, input or input_sha256 or
    features, confidence, latency_ms and features are optional."""
    from modelledger.ledger.home import open_ledger
    from modelledger.predictions.importer import import_file

    with open_ledger() as ledger:
        report = import_file(ledger, file, env)
    if as_json:
        emit_json(report.to_json())
        return
    span = ""
    if report.first_served_at and report.last_served_at:
        span = f", served {when(report.first_served_at)} … {when(report.last_served_at)}"
    typer.echo(
        f"imported {report.count:,} prediction(s) into {env} "
        f"({report.served:,} served, {report.shadow:,} shadow{span})"
    )
    for segment in report.segments:
        typer.echo(f"  features: segment {segment[:12]}")


@app.command("export")
def export_predictions(
    env: str = typer.Argument(..., help="Environment whose inference log to export."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder (Parquet: a new or empty one) or file (JSONL)."
    ),
    fmt: str = typer.Option("parquet", "--format", help="parquet (Hive-partitioned) or jsonl."),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Start: ISO-8601 time or a duration back (30m, 24h, 7d); default: all.",
    ),
    until: str | None = typer.Option(None, "--until", help="End (exclusive), same forms."),
    as_json: bool = JsonOpt,
) -> None:
    """Export the inference log for other engines: Parquet partitioned by env= and date= folders
    (DuckDB, Spark, Trino and pandas read it as one table), or JSONL that `predictions import`
    reads back. Each row has the version that answered, its output and its features, which are
    read from segments whose bytes are checked against their hashes first."""
    from modelledger.console.progress import LazyProgress
    from modelledger.ledger.home import open_ledger
    from modelledger.predictions.export import export

    with open_ledger() as ledger, LazyProgress("exporting", unit="rows") as bar:
        result = export(ledger, env, out, since=since, until=until, fmt=fmt, advance=bar.advance)
    if as_json:
        emit_json(result.to_json())
        return
    where = f"{len(result.partitions)} partition(s) under {out}" if fmt == "parquet" else str(out)
    typer.echo(f"exported {result.rows:,} prediction(s) of {env} to {where}")


@app.command("publish")
def publish_predictions(
    env: str = typer.Argument(..., help="Environment whose inference log to publish."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rewrite every day, not only the last."),
    as_json: bool = JsonOpt,
) -> None:
    """Refresh the Hive-partitioned Parquet dataset of ENV's inference log inside the blob store
    (datasets/predictions/env=ENV/date=D/data.parquet), for DuckDB, Spark or Trino to read in
    place. Days from the last one published on are rewritten, each replaced whole."""
    from modelledger.console.progress import LazyProgress
    from modelledger.ledger.home import open_ledger
    from modelledger.predictions.publish import publish

    with open_ledger() as ledger, LazyProgress("publishing", unit="rows") as bar:
        result = publish(ledger, env, rebuild=rebuild, advance=bar.advance)
    if as_json:
        emit_json(result.to_json())
        return
    days = ", ".join(result.days) if result.days else "no day with predictions"
    typer.echo(f"published {result.rows:,} prediction(s) of {env} ({days}) under {result.root}")


@feedback_app.command("import")
def import_feedback(
    file: Path = typer.Argument(..., help="JSONL: request_id, label and/or was_correct, …"),
    as_json: bool = JsonOpt,
) -> None:
    """Record ground truth for logged requests. A malformed line refuses the file (named, nothing
    written); lines for request ids the log does not hold are skipped, counted and listed.

    Exit 3 when nothing was recorded and nothing was there already (no line names a logged
    request): a script must not take that for success."""
    from modelledger.ledger.home import open_ledger
    from modelledger.predictions.feedback import import_feedback as run

    with open_ledger() as ledger:
        report = run(ledger, file)
    if report.unknown_count:
        listed = ", ".join(f"line {p} ({r})" for p, r in report.unknown[:5])
        more = ", …" if report.unknown_count > 5 else ""
        typer.echo(
            f"warning: {report.unknown_count} line(s) name a request id the log does not hold, "
            f"skipped: {listed}{more}",
            err=True,
        )
    if as_json:
        emit_json(report.to_json())
    else:
        repeated = f"; {report.repeated:,} already recorded, skipped" if report.repeated else ""
        typer.echo(f"recorded feedback for {report.recorded:,} request(s){repeated}")
    if report.recorded == 0 and report.repeated == 0:
        raise typer.Exit(NOTHING_TO_ACT_ON)


def _json(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code(tuple_: dict[str, Any]) -> str:
    code = tuple_.get("code")
    if not code:
        return "none recorded"
    if code["kind"] == "ref":
        return str(code["ref"])
    dirty = (
        " (dirty, diff " + str(code.get("diff_sha256") or "")[:12] + ")" if code["dirty"] else ""
    )
    return f"{code.get('repo') or '?'} @ {code.get('commit')}{dirty}"


def _sources(item: dict[str, Any]) -> str:
    if not item["card"]:
        return "no dataset card"
    names = []
    for s in item["sources"]:
        extra = ", ".join(str(s[k]) for k in ("owner", "license") if s.get(k))
        names.append(f"{s['name']} ({extra})" if extra else s["name"])
    return "sources: " + (", ".join(names) or "none listed")


def _version_rows(version: dict[str, Any]) -> list[tuple[str, Any]]:
    t = version["tuple"]
    artifact = t["artifact"]
    rows: list[tuple[str, Any]] = [
        ("version", f"{version['label']}  {version['id']}"),
        (
            "registered",
            f"{when(version['created_at'])} by {version['registered_by']} — "
            f"{version['reproducibility']['status']}",
        ),
        ("  code", _code(t)),
    ]
    for d in version["data"]:
        rows.append((f"  data ({d['role']})", f"{d['name'] or '?'} {d['id']} — {_sources(d)}"))
    if not version["data"]:
        rows.append(("  data", "none pinned"))
    rows += [
        ("  lock", t.get("lock_sha256") or "none recorded"),
        ("  params", _json(t.get("params") or {})),
        ("  seed", t.get("seed")),
        ("  artifact", f"{artifact['kind']} sha256:{artifact['sha256']}"),
    ]
    for key in ("preprocessing", "base_model", "parent"):
        if t.get(key):
            rows.append((f"  {key.replace('_', ' ')}", t[key]))
    return rows


def _promotion_rows(found: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    live, promo = found["live"], found["promotion"]
    if live is None:
        return [("live by", f"nothing was live in {found['env']} at that time")]
    if promo is not None:
        approvers = ", ".join(promo["approvers"]) or "—"
        rows.append(
            (
                "promoted",
                f"{promo['action']} #{promo['event']} at {when(promo['at'])} — requested by "
                f"{promo['requester']}, approved by {approvers}"
                + (f' — "{promo["reason"]}"' if promo["reason"] else ""),
            )
        )
        rows.append(("  policy", promo["policy_sha256"] or "default (none pinned)"))
        gate = promo.get("gate")
        if gate:
            failed = [c["name"] for c in gate.get("criteria", []) if not c.get("passed")]
            verdict = "passed" if gate.get("passed") else "overridden; failed: " + ", ".join(failed)
            where = f" on eval set {id_shown(gate['eval_set'])}" if gate.get("eval_set") else ""
            rows.append(("  gate", f"{verdict}{where}"))
        result = promo.get("eval_result")
        if result:
            scores = ", ".join(f"{k}={v:g}" for k, v in sorted(result["metrics"].items()))
            report = (
                f" — report sha256:{result['report_sha256'][:12]}"
                if result["report_sha256"]
                else ""
            )
            rows.append(("  eval", f"{id_shown(result['id'])} {scores}{report}"))
    route = found.get("route")
    if route is not None and found["role"] in ("canary", "shadow"):
        gate = route.get("gate")
        verdict = "" if gate is None else (" — gate floors passed" if gate.get("passed") else "")
        rows.append(
            (
                "routed by",
                f"route revision {route['revision']} (route.set #{route['event']}) at "
                f"{when(route['at'])} — requested by {route['requester']}, approved by "
                f"{', '.join(route['approvers']) or '—'}{verdict}",
            )
        )
    if promo is None or live["event"] != promo["event"]:
        label = live["label"] or id_shown(live["id"])
        rows.append(
            (
                "live by",
                f"{live['action']} #{live['event']} of {label} at {when(live['at'])} — "
                f"requested by {live['requester']}, approved by {', '.join(live['approvers'])}",
            )
        )
    return rows


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def _human(found: dict[str, Any]) -> None:
    role = found["role"]
    arm = f", arm {found['arm']}" if found["arm"] else ""
    rows: list[tuple[str, Any]] = [
        ("request", found["request_id"]),
        ("served", f"{when(found['served_at'])} in {found['env']}"),
        ("output", _json(found["output"])),
        (
            "",
            f"confidence {_num(found['confidence'])}, latency {_num(found['latency_ms'])} ms, "
            f"input sha256:{found['input_sha256'][:16]}",
        ),
        ("answered by", f"{role.upper()} ({found['mode']}{arm})"),
    ]
    if found["system"]:
        system = found["system"]
        parts = ", ".join(f"{k}={id_shown(v)}" for k, v in system["components"].items())
        rows.append(("system", f"{system['label']}  {system['id']}  [{parts}]"))
    if found["version"]:
        rows += _version_rows(found["version"])
    else:
        rows.append(("version", found["version_id"]))
    rows += _promotion_rows(found)
    for other in found["answers"]:
        if other["mode"] == found["mode"] and other["version_id"] == found["version_id"]:
            continue
        who = other["label"] or id_shown(other["version_id"])
        rows.append((other["role"], f"{who} answered {_json(other['output'], 80)}"))
    for fb in found["feedback"]:
        bits = []
        if fb["label"] is not None:
            bits.append(f"label {_json(fb['label'], 60)}")
        if fb["was_correct"] is not None:
            bits.append("correct" if fb["was_correct"] else "WRONG")
        if fb["failure_cluster"]:
            bits.append(f"cluster {fb['failure_cluster']}")
        rows.append(("feedback", f"{', '.join(bits)} ({when(fb['received_at'])})"))
    for seg in found["segments"]:
        rows.append(("features", f"segment {seg['id'][:16]} ({seg['rows']:,} rows)"))
    console().print(kv_table(rows))


def audit_prediction(
    request_id: str = typer.Argument(..., help="The request id the prediction was logged under."),
    as_json: bool = JsonOpt,
) -> None:
    """What served a request: time and output; system, version and arm; the version's full tuple
    with its data's sources; the promotion that made it live; canary or shadow."""
    from modelledger.ledger.home import read
    from modelledger.predictions.audit import audit_prediction as run
    from modelledger.remote.session import route

    found = read(
        route("predictions", request_id), lambda ledger: run(ledger, request_id, one_shot=True)
    )
    if as_json:
        emit_json(found)
        return
    _human(found)


@app.command("compare")
def compare(
    env: str = typer.Argument(..., help="Environment whose inference log to read."),
    since: str = typer.Option(
        "24h",
        "--since",
        help="Start of the window: ISO-8601 time or a duration back (30m, 24h, 7d).",
    ),
    until: str | None = typer.Option(
        None, "--until", help="End of the window (exclusive), same forms; default: no end."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Compare the arms of an A/B test, canary or shadow: traffic, latency, accuracy, verdict.

    Over the predictions served in [--since, --until), per arm: count, share of served traffic,
    latency p50/p95/p99, mean confidence and, where feedback arrived, accuracy with a 95% Wilson
    interval. Shadows are grouped by version; their share is the part of served traffic they
    scored. Accuracy uses the newest feedback per request: was_correct when given (for served
    answers), else label == output as canonical JSON (1 equals 1.0; shadows are judged by labels
    only). A winner is named only when exactly two served arms have at least 30 judged
    predictions each and their intervals do not overlap."""
    from modelledger.ledger.home import open_ledger
    from modelledger.predictions.compare import compare as run

    with open_ledger() as ledger:
        result = run(ledger, env, since, until)
    if as_json:
        emit_json(result.to_json())
        return
    window = f"{when(result.since)} … {when(result.until) if result.until else 'now'}"
    if result.empty:
        typer.echo(f"no predictions in the window ({env}, {window})")
        return
    typer.echo(f"{env}, {window}: {result.served:,} served, {result.shadow:,} shadow prediction(s)")
    latency, accuracy = "p50 / p95 / p99 ms", "accuracy [95% CI]"
    t = table(
        "arm", "version", "mode", "count", "share", latency, accuracy, "feedback",
        wrap=("version", latency, accuracy),
    )  # fmt: skip
    for arm in result.arms:
        lat = arm.latency
        t.add_row(
            "shadow" if arm.mode == "shadow" else arm.name,
            arm.version,
            arm.mode,
            f"{arm.count:,}",
            "—" if arm.share is None else f"{arm.share:.1%}",
            "—" if lat.n == 0 else f"{_ms(lat.p50)} / {_ms(lat.p95)} / {_ms(lat.p99)}",
            arm.quality.describe() if arm.quality else "—",
            f"{arm.quality.n:,}" if arm.quality else "0",
        )
    console().print(t)
    typer.echo(result.verdict.text)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"
