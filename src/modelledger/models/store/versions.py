"""Model version rows, their data links and their card revisions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.engine import Connection, Row

from modelledger.core.canonical import canonical_json
from modelledger.core.search_index import version_param_rows
from modelledger.ledger.prepared import Prepared
from modelledger.ledger.schema import model_versions, version_data, version_params
from modelledger.models.version import ModelVersion


def _to_version(row: Row[Any]) -> ModelVersion:
    return ModelVersion.from_record(row._mapping)


# Statements on the registration path: built once, run on the driver (ledger/prepared.py).
_GET = Prepared(select(model_versions).where(model_versions.c.id == bindparam("id")))
_MAX_NUMBER = Prepared(
    select(func.max(model_versions.c.number)).where(model_versions.c.name == bindparam("name"))
)
_INSERT = Prepared(insert(model_versions))
_INSERT_DATA = Prepared(insert(version_data))
_INSERT_PARAMS = Prepared(insert(version_params))


def get(conn: Connection, version_id: str) -> ModelVersion | None:
    row = _GET.first(conn, {"id": version_id})
    return ModelVersion.from_record(row) if row else None


def get_many(conn: Connection, version_ids: set[str]) -> list[ModelVersion]:
    if not version_ids:
        return []
    rows = conn.execute(select(model_versions).where(model_versions.c.id.in_(sorted(version_ids))))
    return [_to_version(r) for r in rows]


def descendants(conn: Connection, version_ids: set[str]) -> set[str]:
    """Versions whose parent or base model is one of these, transitively (retrains, fine-tunes)."""
    children: dict[str, set[str]] = {}
    for vid, parent, tuple_json in conn.execute(
        select(model_versions.c.id, model_versions.c.parent_id, model_versions.c.tuple_json)
    ):
        base = json.loads(tuple_json).get("base_model")
        for up in (parent, base):
            if up:
                children.setdefault(up, set()).add(vid)
    found: set[str] = set()
    frontier = set(version_ids)
    while frontier:
        frontier = {c for v in frontier for c in children.get(v, ())} - found
        found |= frontier
    return found


def ids_with_prefix(conn: Connection, prefix: str, limit: int = 11) -> list[str]:
    q = select(model_versions.c.id).where(model_versions.c.id.startswith(prefix, autoescape=True))
    return list(conn.execute(q.order_by(model_versions.c.id).limit(limit)).scalars())


def id_by_number(conn: Connection, name: str, number: int) -> str | None:
    return conn.execute(
        select(model_versions.c.id).where(
            model_versions.c.name == name, model_versions.c.number == number
        )
    ).scalar()


def next_number(conn: Connection, name: str) -> int:
    current = _MAX_NUMBER.scalar(conn, {"name": name})
    return int(current or 0) + 1


def insert_version(conn: Connection, version: ModelVersion, created_at: str) -> None:
    _INSERT.run(
        conn,
        {
            "id": version.id,
            "name": version.name,
            "number": version.number,
            "tuple_json": canonical_json(version.tuple.to_json()).decode("utf-8"),
            "artifact_sha256": version.tuple.artifact.sha256,
            "parent_id": version.tuple.parent,
            "created_at": created_at,
            "registered_by": version.registered_by,
            "loader": version.loader,
            "irreproducible_reason": version.irreproducible_reason,
            "manifest_json": canonical_json(version.manifest).decode("utf-8"),
        },
    )
    _INSERT_DATA.run_many(
        conn,
        [
            {"version_id": version.id, "snapshot_id": d.snapshot_id, "role": d.role}
            for d in sorted(set(version.tuple.data))
        ],
    )
    _INSERT_PARAMS.run_many(conn, version_param_rows(version.id, version.tuple.params))


def listing(
    conn: Connection, name: str | None = None, limit: int | None = 100
) -> list[ModelVersion]:
    """Newest first."""
    q = select(model_versions)
    if name:
        q = q.where(model_versions.c.name == name)
    q = q.order_by(model_versions.c.created_at.desc(), model_versions.c.number.desc()).limit(limit)
    return [_to_version(r) for r in conn.execute(q)]


def tuples(conn: Connection) -> Iterator[tuple[str, str, int, str, str]]:
    """Every version's (id, name, number, created_at, tuple_json), unparsed: for a pass over
    all of them that needs their identity only (gc's plan), not whole versions."""
    cols = model_versions.c
    q = select(cols.id, cols.name, cols.number, cols.created_at, cols.tuple_json)
    for row in conn.execute(q):
        yield row.id, row.name, row.number, row.created_at, row.tuple_json


def children(conn: Connection, version_id: str) -> list[ModelVersion]:
    rows = conn.execute(select(model_versions).where(model_versions.c.parent_id == version_id))
    return [_to_version(r) for r in rows]
