"""Turning what a person typed (full id, unique prefix, NAME@N) into one immutable id."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from modelledger.domain.errors import AmbiguousReference, InvalidInput, NotFound
from modelledger.domain.refs import IdPrefix, NameNumber, parse_ref
from modelledger.store import snapshots, versions


def _by_prefix(found: list[str], ref: str, what: str) -> str:
    if not found:
        raise NotFound(f"no {what} matches {ref!r}")
    if len(found) > 1:
        raise AmbiguousReference(ref, found)
    return found[0]


def resolve_version(conn: Connection, ref: str) -> str:
    parsed = parse_ref(ref)
    if isinstance(parsed, NameNumber):
        found = versions.id_by_number(conn, parsed.name, parsed.number)
        if found is None:
            latest = versions.next_number(conn, parsed.name) - 1
            hint = f" (latest is {parsed.name}@{latest})" if latest else " (no such model)"
            raise NotFound(f"{ref}: no such version{hint}")
        return found
    assert isinstance(parsed, IdPrefix)
    if parsed.kind not in (None, "mv"):
        raise InvalidInput(f"{ref!r} is a {parsed.kind}- id, not a model version (mv-…)")
    return _by_prefix(versions.ids_with_prefix(conn, f"mv-{parsed.hex}"), ref, "model version")


def resolve_snapshot(conn: Connection, ref: str) -> str:
    parsed = parse_ref(ref)
    if not isinstance(parsed, IdPrefix) or parsed.kind not in (None, "ds"):
        raise InvalidInput(f"{ref!r} is not a snapshot id (ds-…)")
    return _by_prefix(snapshots.ids_with_prefix(conn, f"ds-{parsed.hex}"), ref, "snapshot")
