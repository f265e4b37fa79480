"""Transform rows: the recorded steps between snapshots, and the graph queries lineage needs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from modelledger.data.transform import Transform
from modelledger.ledger.binding import insert_rows
from modelledger.ledger.schema import transform_inputs, transforms, version_data


def _to_transform(record_json: str, id_: str) -> Transform:
    r = json.loads(record_json)
    return Transform(id_, r["output"], tuple(r["inputs"]), r["step"], r["code"], r["params"])


def exists(conn: Connection, transform_id: str) -> bool:
    return (
        conn.execute(select(transforms.c.id).where(transforms.c.id == transform_id)).first()
        is not None
    )


def insert_transform(conn: Connection, tf: Transform, record_json: str, at: str, by: str) -> None:
    insert_rows(
        conn,
        transforms,
        {
            "id": tf.id,
            "output_id": tf.output,
            "step": tf.step,
            "record_json": record_json,
            "created_at": at,
            "created_by": by,
        },
    )
    insert_rows(conn, transform_inputs, [{"transform_id": tf.id, "input_id": i} for i in tf.inputs])


def producing(conn: Connection, snapshot_ids: Iterable[str]) -> list[Transform]:
    """Transforms whose output is one of the snapshots."""
    ids = list(snapshot_ids)
    if not ids:
        return []
    rows = conn.execute(
        select(transforms.c.id, transforms.c.record_json)
        .where(transforms.c.output_id.in_(ids))
        .order_by(transforms.c.created_at)
    )
    return [_to_transform(r.record_json, r.id) for r in rows]


def consuming(conn: Connection, snapshot_ids: Iterable[str]) -> list[Transform]:
    """Transforms that read one of the snapshots."""
    ids = list(snapshot_ids)
    if not ids:
        return []
    rows = conn.execute(
        select(transforms.c.id, transforms.c.record_json)
        .join(transform_inputs, transform_inputs.c.transform_id == transforms.c.id)
        .where(transform_inputs.c.input_id.in_(ids))
        .distinct()
        .order_by(transforms.c.id)
    )
    return [_to_transform(r.record_json, r.id) for r in rows]


def versions_using(conn: Connection, snapshot_ids: Iterable[str]) -> list[dict[str, Any]]:
    """(version id, snapshot id, role) for every model version trained or evaluated on them."""
    ids = list(snapshot_ids)
    if not ids:
        return []
    rows = conn.execute(
        select(version_data.c.version_id, version_data.c.snapshot_id, version_data.c.role)
        .where(version_data.c.snapshot_id.in_(ids))
        .order_by(version_data.c.version_id)
    )
    return [{"version": r[0], "snapshot": r[1], "role": r[2]} for r in rows]
