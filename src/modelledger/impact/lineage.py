"""Data lineage: the transformation graph around a snapshot, upward to its sources and downward to
derived snapshots and the model versions trained on any of them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Connection

from modelledger.data.resolve import resolve_snapshot
from modelledger.data.store import snapshots, transforms
from modelledger.data.transform import Transform
from modelledger.ledger.home import Ledger
from modelledger.models.store import versions


def upstream(conn: Connection, start: Iterable[str]) -> tuple[list[Transform], set[str]]:
    """Every transform feeding the snapshots, transitively, and the snapshots they read."""
    return _walk(conn, start, transforms.producing, lambda tf: tf.inputs)


def downstream(conn: Connection, start: Iterable[str]) -> tuple[list[Transform], set[str]]:
    """Every transform reading the snapshots, transitively, and the snapshots they wrote."""
    return _walk(conn, start, transforms.consuming, lambda tf: (tf.output,))


def _walk(
    conn: Connection, start: Iterable[str], step: Any, nxt: Any
) -> tuple[list[Transform], set[str]]:
    seen_tf: dict[str, Transform] = {}
    reached: set[str] = set()
    frontier = set(start)
    while frontier:
        found = [tf for tf in step(conn, sorted(frontier)) if tf.id not in seen_tf]
        seen_tf.update((tf.id, tf) for tf in found)
        frontier = {s for tf in found for s in nxt(tf)} - reached
        reached |= frontier
    return list(seen_tf.values()), reached


def models_using(conn: Connection, snapshot_ids: Iterable[str]) -> list[dict[str, Any]]:
    rows = transforms.versions_using(conn, snapshot_ids)
    labels = {v.id: v.label for v in versions.get_many(conn, {r["version"] for r in rows})}
    return [{**r, "label": labels.get(r["version"])} for r in rows]


def data_lineage(ledger: Ledger, ref: str) -> dict[str, Any]:
    with ledger.db.read() as conn:
        snap_id = resolve_snapshot(conn, ref)
        up, sources = upstream(conn, [snap_id])
        down, derived = downstream(conn, [snap_id])
        names = {s.id: s.name for s in snapshots.get_many(conn, sources | derived | {snap_id})}
        models = models_using(conn, derived | {snap_id})

    def node(tf: Transform) -> dict[str, Any]:
        return {
            **tf.to_json(),
            "input_names": [names.get(i) for i in tf.inputs],
            "output_name": names.get(tf.output),
        }

    return {
        "snapshot": {"id": snap_id, "name": names.get(snap_id)},
        "upstream": [node(tf) for tf in up],
        "downstream": [node(tf) for tf in down],
        "models": models,
    }
