"""The blobs reference profiles name, for ``mledger fsck``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from modelledger.ledger.schema import version_profiles


def profile_blobs(conn: Connection) -> list[tuple[str, str]]:
    """(version id, profile sha256) of every stored profile."""
    t = version_profiles.c
    rows = conn.execute(select(t.version_id, t.profile_sha256).order_by(t.id))
    return [(r.version_id, r.profile_sha256) for r in rows]
