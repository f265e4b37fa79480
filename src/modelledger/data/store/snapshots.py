"""Dataset snapshot rows."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Row

from modelledger.data.manifest import Snapshot
from modelledger.ledger.binding import insert_rows
from modelledger.ledger.prepared import Prepared
from modelledger.ledger.schema import snapshots


def _to_snapshot(row: Row[Any]) -> Snapshot:
    return Snapshot(**row._mapping)


def get(conn: Connection, snapshot_id: str) -> Snapshot | None:
    row = conn.execute(select(snapshots).where(snapshots.c.id == snapshot_id)).first()
    return _to_snapshot(row) if row else None


def get_many(conn: Connection, snapshot_ids: set[str]) -> list[Snapshot]:
    if not snapshot_ids:
        return []
    rows = conn.execute(select(snapshots).where(snapshots.c.id.in_(sorted(snapshot_ids))))
    return [_to_snapshot(r) for r in rows]


# run on the driver (ledger/prepared.py): registration checks its data references with it
_HAS = Prepared(select(snapshots.c.id).where(snapshots.c.id == bindparam("id")))


def existing(conn: Connection, snapshot_ids: list[str]) -> set[str]:
    """Which of these (a registration's few data references) are recorded."""
    return {i for i in snapshot_ids if _HAS.scalar(conn, {"id": i}) is not None}


def ids_with_prefix(conn: Connection, prefix: str, limit: int = 11) -> list[str]:
    q = select(snapshots.c.id).where(snapshots.c.id.startswith(prefix, autoescape=True))
    return list(conn.execute(q.order_by(snapshots.c.id).limit(limit)).scalars())


def insert_snapshot(conn: Connection, snap: Snapshot) -> None:
    insert_rows(conn, snapshots, asdict(snap))


def listing(conn: Connection, name: str | None = None, limit: int | None = 100) -> list[Snapshot]:
    q = select(snapshots)
    if name:
        q = q.where(snapshots.c.name == name)
    rows = conn.execute(q.order_by(snapshots.c.created_at.desc()).limit(limit))
    return [_to_snapshot(r) for r in rows]
