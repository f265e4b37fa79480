"""Reference profiles per version (append-only; the profile itself is a blob)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from modelledger.store.schema import version_profiles


def add(
    conn: Connection,
    version_id: str,
    sha256: str,
    source: str,
    rows: int,
    features: int,
    at: str,
    user: str,
    source_key: str | None = None,
) -> bool:
    """Record the profile; False when this version already has these exact bytes."""
    t = version_profiles.c
    found = conn.execute(
        select(t.id).where(t.version_id == version_id, t.profile_sha256 == sha256)
    ).first()
    if found is not None:
        return False
    conn.execute(
        insert(version_profiles).values(
            version_id=version_id,
            profile_sha256=sha256,
            source=source,
            rows=rows,
            features=features,
            source_key=source_key,
            created_at=at,
            created_by=user,
        )
    )
    return True


def listed(conn: Connection, version_id: str) -> list[dict[str, Any]]:
    """The version's profiles, newest first."""
    t = version_profiles.c
    rows = conn.execute(
        select(version_profiles).where(t.version_id == version_id).order_by(t.id.desc())
    )
    return [dict(r._mapping) for r in rows]


def by_source_key(conn: Connection, key: str) -> dict[str, Any] | None:
    """A profile already computed from the same training data, if any."""
    t = version_profiles.c
    row = conn.execute(
        select(version_profiles).where(t.source_key == key).order_by(t.id).limit(1)
    ).first()
    return dict(row._mapping) if row else None
