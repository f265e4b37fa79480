"""Reference profiles per version (append-only; the profile itself is a blob)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection

from modelledger.ledger.prepared import Prepared
from modelledger.ledger.schema import version_profiles

# Registration runs these on every call: built once, run on the driver (ledger/prepared.py).
_t = version_profiles.c
_FOUND = Prepared(
    select(_t.id).where(
        _t.version_id == bindparam("version_id"), _t.profile_sha256 == bindparam("sha256")
    )
)
_BY_SOURCE_KEY = Prepared(
    select(version_profiles).where(_t.source_key == bindparam("key")).order_by(_t.id).limit(1)
)
_INSERT = Prepared(insert(version_profiles))


def add(
    conn: Connection,
    version_id: str,
    *,
    sha256: str,
    source: str,
    rows: int,
    features: int,
    at: str,
    user: str,
    source_key: str | None = None,
    new_version: bool = False,
) -> bool:
    """Record the profile; False when this version already has these exact bytes (not asked
    for a ``new_version``, registered in the same transaction: it has no profiles yet)."""
    if not new_version:
        found = _FOUND.first(conn, {"version_id": version_id, "sha256": sha256})
        if found is not None:
            return False
    _INSERT.run(
        conn,
        {
            "version_id": version_id,
            "profile_sha256": sha256,
            "source": source,
            "rows": rows,
            "features": features,
            "source_key": source_key,
            "created_at": at,
            "created_by": user,
        },
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
    return _BY_SOURCE_KEY.first(conn, {"key": key})
