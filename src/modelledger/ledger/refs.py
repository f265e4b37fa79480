"""The environment pointer as a reference reads it: ``NAME@ENV`` names whatever is live in ENV
now. Kept here, below every capability, so that resolving a reference needs no part of the
releases capability that moves the pointer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from modelledger.ledger.schema import environments


@dataclass(frozen=True)
class LivePointer:
    env: str
    current_id: str | None  # None: the environment exists and nothing has gone live yet


_GET = select(environments.c.name, environments.c.current_id).where(
    environments.c.name == bindparam("name")
)


def live_pointer(conn: Connection, env: str) -> LivePointer | None:
    """The environment's pointer, or None when there is no environment of that name."""
    row = conn.execute(_GET, {"name": env}).first()
    return LivePointer(row.name, row.current_id) if row is not None else None


def all_pointers(conn: Connection) -> list[LivePointer]:
    rows = conn.execute(select(environments.c.name, environments.c.current_id))
    return [LivePointer(row.name, row.current_id) for row in rows]
