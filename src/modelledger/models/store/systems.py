"""System rows and their component index."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Row

from modelledger.core.canonical import canonical_json
from modelledger.ledger.binding import insert_rows
from modelledger.ledger.schema import system_components, systems
from modelledger.models.system import System


def _to_system(row: Row[Any]) -> System:
    return System(
        id=row.id,
        name=row.name,
        number=row.number,
        components=json.loads(row.components_json),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def get(conn: Connection, system_id: str) -> System | None:
    row = conn.execute(select(systems).where(systems.c.id == system_id)).first()
    return _to_system(row) if row else None


def get_many(conn: Connection, system_ids: set[str]) -> list[System]:
    if not system_ids:
        return []
    rows = conn.execute(select(systems).where(systems.c.id.in_(sorted(system_ids))))
    return [_to_system(r) for r in rows]


def id_by_number(conn: Connection, name: str, number: int) -> str | None:
    q = select(systems.c.id).where(systems.c.name == name, systems.c.number == number)
    return conn.execute(q).scalar()


def next_number(conn: Connection, name: str) -> int:
    current = conn.execute(
        select(func.max(systems.c.number)).where(systems.c.name == name)
    ).scalar()
    return int(current or 0) + 1


def ids_with_prefix(conn: Connection, prefix: str, limit: int = 11) -> list[str]:
    q = select(systems.c.id).where(systems.c.id.startswith(prefix, autoescape=True))
    return list(conn.execute(q.order_by(systems.c.id).limit(limit)).scalars())


def insert_system(conn: Connection, system: System) -> None:
    insert_rows(
        conn,
        systems,
        {
            "id": system.id,
            "name": system.name,
            "number": system.number,
            "components_json": canonical_json(dict(sorted(system.components.items()))).decode(),
            "created_at": system.created_at,
            "created_by": system.created_by,
        },
    )
    insert_rows(
        conn,
        system_components,
        [
            {"system_id": system.id, "key": k, "ref": r}
            for k, r in sorted(system.components.items())
        ],
    )


def listing(conn: Connection, name: str | None = None, limit: int = 100) -> list[System]:
    q = select(systems)
    if name:
        q = q.where(systems.c.name == name)
    q = q.order_by(systems.c.created_at.desc(), systems.c.number.desc()).limit(limit)
    return [_to_system(r) for r in conn.execute(q)]
