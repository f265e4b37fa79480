"""What each page of the web UI shows, read through the same use cases as the CLI and the API
(so a page shows what `mledger … --json` says): plain data for the templates."""

from __future__ import annotations

from typing import Any

from modelledger.core.errors import InvalidInput, NotFound
from modelledger.ledger.home import Ledger
from modelledger.server.ui.graph import lineage_nodes, svg

RECENT = 20


def home(view: Ledger) -> dict[str, Any]:
    from modelledger.models.reads import list_versions
    from modelledger.releases.environments import list_envs
    from modelledger.releases.workflow import listing

    return {
        "envs": list_envs(view),
        "pending": [s.to_json() for s in listing(view)],
        "versions": [v.to_json() for v in list_versions(view, None, RECENT)],
    }


def where(text: str) -> str:
    """The page a search box's text names: a snapshot, a promotion request, a version (an id, a
    prefix, NAME@N, NAME@ENV), else a request id of the inference log."""
    q = text.strip()
    if not q:
        raise InvalidInput("type a request id, a version (NAME@N, mv-…), a snapshot (ds-…)")
    if q.startswith("ds-"):
        return f"/ui/snapshots/{q}"
    if q.startswith("pr-"):
        return f"/ui/requests/{q}"
    if q.startswith(("mv-", "sys-")) or "@" in q:
        return f"/ui/versions/{q}"
    return f"/ui/predictions/{q}"


def version(view: Ledger, ref: str) -> dict[str, Any]:
    from modelledger.data.store import snapshots, transforms
    from modelledger.evals import store as evals
    from modelledger.ledger import tombstones
    from modelledger.models.reads import lineage
    from modelledger.models.status import show

    shown = show(view, ref)
    found = lineage(view, shown["id"])
    with view.db.read() as conn:
        gone = tombstones.collected(conn, shown["id"])
        made = transforms.producing(conn, [d["id"] for d in found["data"]])
        results = evals.results_of(conn, shown["id"])
        names = {
            r.eval_set_id: s.name for r in results if (s := snapshots.get(conn, r.eval_set_id))
        }
    derived = [{"output": tf.output, "inputs": list(tf.inputs), "step": tf.step} for tf in made]
    nodes, edges = lineage_nodes(found, derived)
    return {
        "v": shown,
        "lineage": found,
        "graph": svg(nodes, edges, f"lineage of {shown['label']}"),
        "nodes": nodes,
        "evals": [{**r.to_json(), "eval_set_name": names.get(r.eval_set_id)} for r in results],
        "collected": (
            tombstones.note(gone)
            if gone and not view.blobs.has(shown["tuple"]["artifact"]["sha256"])
            else None
        ),
    }


def snapshot(view: Ledger, ref: str) -> dict[str, Any]:
    from modelledger.data.snapshot import list_snapshots, show

    shown = show(view, ref)
    others = [s.to_json() for s in list_snapshots(view, shown["name"]) if s.id != shown["id"]]
    return {
        "s": shown,
        "others": others,
        "collected": shown["collected"],
        "erased": shown["erased"],
    }


def diff(view: Ledger, a: str, b: str, key: str | None) -> dict[str, Any]:
    from modelledger.data.diff import diff as compare

    keys = [k.strip() for k in key.split(",") if k.strip()] if key else None
    found = compare(view, a, b, key=keys)
    return {"d": found, "a": a, "b": b, "key": key or ""}


def environment(view: Ledger, env: str, at: str | None) -> dict[str, Any]:
    from modelledger.ledger import events
    from modelledger.releases.env_status import show
    from modelledger.releases.environments import at as live_at
    from modelledger.releases.environments import history

    moves = list(reversed(history(view, env)))  # newest first
    with view.db.read() as conn:
        payloads = events.payloads(conn, [m["event_seq"] for m in moves if m.get("event_seq")])
    for m in moves:
        payload = payloads.get(m.get("event_seq"), {})
        m["gate"] = payload.get("gate")
        m["checks"] = payload.get("checks")
    return {
        "env": show(view, env),
        "moves": moves,
        "at": at,
        "then": live_at(view, env, at) if at else None,
    }


def requests(view: Ledger, everything: bool) -> list[dict[str, Any]]:
    from modelledger.releases.workflow import listing

    return [s.to_json() for s in listing(view, None, everything)]


def request(view: Ledger, request_id: str) -> dict[str, Any]:
    from modelledger.releases.workflow import show

    state = show(view, request_id)
    if state.request.id != request_id:
        raise NotFound(f"no promotion request {request_id} (name it by its full id)")
    return state.to_json()


def audit(view: Ledger, filters: dict[str, str | None], limit: int) -> dict[str, Any]:
    from modelledger.ledger import events
    from modelledger.ledger.audit import EventQuery, log
    from modelledger.models.resolve import resolve_subject

    query = EventQuery(
        filters.get("subject"), filters.get("kind"), filters.get("actor"),
        filters.get("since"), filters.get("until"), limit,
    )  # fmt: skip
    from modelledger.core.events import first_unsound

    found = log(view, query, resolve=resolve_subject)
    with view.db.read() as conn:
        head = events.head(conn)
    shown = [e.to_json() for e in reversed(found.events)]  # newest first
    return {
        "events": shown,
        "unsound": first_unsound(shown),  # the events read here, each re-hashed
        "total": found.total,
        "head": {"seq": head.seq, "hash": head.hash} if head else None,
        "filters": filters,
    }


def prediction(view: Ledger, request_id: str) -> dict[str, Any]:
    from modelledger.predictions.audit import audit_prediction

    return audit_prediction(view, request_id)


def drift(view: Ledger, env: str) -> dict[str, Any]:
    """The drift alerts recorded for ``env``'s versions, newest first (``drift check`` records
    one event per alerting signal), and what is live there."""
    from sqlalchemy import select

    from modelledger.ledger.schema import events as table
    from modelledger.releases.env_status import show

    live = show(view, env)
    with view.db.read() as conn:
        rows = conn.execute(
            select(table.c.seq, table.c.at, table.c.payload_json)
            .where(table.c.kind == "drift_alert")
            .order_by(table.c.seq.desc())
            .limit(500)
        ).all()
    import json

    alerts = [{"seq": r.seq, "at": r.at, **json.loads(r.payload_json)} for r in rows]
    return {"env": live, "alerts": [a for a in alerts if a.get("env") == env]}


def drift_report(view: Ledger, env: str, window: str) -> str:
    """``drift check``'s HTML report for ``env`` over ``window``, computed now (nothing recorded)."""
    from modelledger.drift.check import check
    from modelledger.drift.report.page import render_html

    return render_html(check(view, env, window=window).to_json())
