"""Turning what a person typed for a snapshot (a full ``ds-`` id or a unique prefix) into its id."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from modelledger.core.errors import InvalidInput
from modelledger.core.refs import IdPrefix, one_match, parse_ref
from modelledger.data.store import snapshots


def resolve_snapshot(conn: Connection, ref: str) -> str:
    parsed = parse_ref(ref)
    if not isinstance(parsed, IdPrefix) or parsed.kind not in (None, "ds"):
        raise InvalidInput(f"{ref!r} is not a snapshot id (ds-…)")
    return one_match(snapshots.ids_with_prefix(conn, f"ds-{parsed.hex}"), ref, "snapshot")
