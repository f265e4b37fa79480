"""Deletion impact (S15): which snapshots hold a source or a person's record, which model versions
trained on them (directly or through a parent/base chain), and so what must be retrained.

A source that a card's ``excluded`` list forbids but that appears upstream of that snapshot is
reported as a violation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from modelledger.core.errors import InvalidInput
from modelledger.data.resolve import resolve_snapshot
from modelledger.data.store import snapshots
from modelledger.data.tables import LocalTables, tabular_files
from modelledger.impact.lineage import downstream, models_using, upstream
from modelledger.ledger import cards
from modelledger.ledger.home import Ledger
from modelledger.models.store import versions
from modelledger.releases import store as environments


def parse_record(text: str) -> tuple[str, str]:
    column, sep, value = text.partition("=")
    if not sep or not column.strip():
        raise InvalidInput(f"--record {text!r}: expected COLUMN=VALUE, e.g. user_id=42")
    return column.strip(), value.strip()


def affected(
    ledger: Ledger,
    *,
    source: str | None = None,
    record: str | None = None,
    within: list[str] | None = None,
) -> dict[str, Any]:
    if (source is None) == (record is None):
        raise InvalidInput("give exactly one of --source NAME or --record COLUMN=VALUE")
    if within and source is not None:
        raise InvalidInput("--in narrows a --record scan; a --source is traced through cards")
    with ledger.db.read() as conn:
        all_cards = cards.all_latest(conn, "dataset")
        if source is not None:
            direct = {
                sid: f"its card lists source {source!r}"
                for sid, card in all_cards.items()
                if any(s.get("name") == source for s in card.get("sources", []))
            }
        else:
            scope = [resolve_snapshot(conn, r) for r in within] if within else None
            direct = _records(ledger, conn, *parse_record(record or ""), scope)
        derived_tf, derived = downstream(conn, direct)
        reasons = dict(direct)
        for tf in derived_tf:
            if tf.output not in reasons:
                parents = ", ".join(i for i in tf.inputs if i in reasons or i in derived)
                reasons[tf.output] = f"derived from {parents} by {tf.step!r}"
        snaps = {s.id: s for s in snapshots.get_many(conn, set(reasons))}
        trained = models_using(conn, reasons)
        direct_models = {m["version"] for m in trained}
        later = versions.descendants(conn, direct_models) - direct_models
        labels = {v.id: v.label for v in versions.get_many(conn, direct_models | later)}
        violations = _violations(conn, set(reasons), all_cards)
        to_retrain = direct_models | later
        serving = [
            {"env": e.name, "id": e.current_id, "label": labels.get(e.current_id)}
            for e in environments.names(conn)
            if e.current_id is not None and e.current_id in to_retrain
        ]
    models = sorted(
        (
            {"id": m["version"], "label": m["label"], "via": m["snapshot"], "role": m["role"]}
            for m in trained
        ),
        key=_by_label,
    ) + sorted(
        (
            {"id": v, "label": labels.get(v), "via": "parent/base chain", "role": "descendant"}
            for v in later
        ),
        key=_by_label,
    )
    return {
        "query": {"source": source} if source is not None else {"record": record, "in": within},
        "snapshots": [
            {"id": sid, "name": snaps[sid].name, "why": reasons[sid]} for sid in sorted(reasons)
        ],
        "models": models,
        "serving": serving,  # environments running an affected version right now
        "retrain": sorted({m["label"] for m in models if m["label"]}),
        "violations": violations,
    }


def _by_label(model: dict[str, Any]) -> tuple[str, int, str, str]:
    """Models as people look for them, by name and number (``churn@2`` before ``churn@10``), not
    by id: the same ledger lists them in the same order whatever its ids hash to."""
    name, _, number = (model["label"] or "").rpartition("@")
    return (name, int(number) if number.isdigit() else 0, model["via"], model["id"])


def _records(
    ledger: Ledger, conn: Connection, column: str, value: str, scope: list[str] | None
) -> dict[str, str]:
    return {
        sid: f"{column}={value}: " + "; ".join(f"{n} row(s) in {path}" for path, _, n in hits)
        for sid, hits in record_hits(ledger, conn, column, value, scope).items()
    }


def record_hits(
    ledger: Ledger, conn: Connection, column: str, value: str, scope: list[str] | None
) -> dict[str, list[tuple[str, str, int]]]:
    """Per snapshot holding the record, its files that do: (path, sha256, matching rows)."""
    from modelledger.tabular import count_matching

    targets = snapshots.get_many(conn, set(scope)) if scope else snapshots.listing(conn, limit=None)
    found: dict[str, list[tuple[str, str, int]]] = {}
    counted: dict[str, int | None] = {}  # the same blob in many snapshots is scanned once
    with LocalTables(ledger) as local:
        for snap in targets:
            if not ledger.blobs.has(snap.tree_sha256):
                continue  # collected or erased: no bytes left to hold the record
            hits = []
            for f in tabular_files(snap.id, ledger.blobs.get_tree(snap.tree_sha256)):
                sha = f.entry.sha256
                if sha not in counted and not ledger.blobs.has(sha, recheck=False):
                    counted[sha] = None  # erased already
                if sha not in counted:
                    counted[sha] = count_matching(local.table(f), column, value)
                if counted[sha]:
                    hits.append((f.entry.path, sha, counted[sha] or 0))
            if hits:
                found[snap.id] = hits
    return found


def _violations(
    conn: Connection, snapshot_ids: set[str], all_cards: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Snapshots whose card excludes a source that nonetheless appears upstream of them."""
    out = []
    for sid in sorted(snapshot_ids):
        excluded = set(all_cards.get(sid, {}).get("excluded", []))
        if not excluded:
            continue
        _, ancestors = upstream(conn, [sid])
        for ancestor in sorted(ancestors | {sid}):
            names = {s.get("name") for s in all_cards.get(ancestor, {}).get("sources", [])}
            for name in sorted(names & excluded):
                out.append(
                    {
                        "snapshot": sid,
                        "excluded_source": name,
                        "found_in": ancestor,
                        "message": f"{sid} excludes source {name!r}, yet it appears in "
                        + ("its own card" if ancestor == sid else f"upstream snapshot {ancestor}"),
                    }
                )
    return out
