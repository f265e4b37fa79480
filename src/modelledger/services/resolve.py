"""Turning what a person typed (full id, unique prefix, NAME@N, NAME@ENV) into one immutable id."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from modelledger.domain.errors import AmbiguousReference, InvalidInput, NotFound
from modelledger.domain.refs import IdPrefix, NameEnv, NameNumber, parse_ref
from modelledger.store import environments, snapshots, versions


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
    if isinstance(parsed, NameEnv):
        return _live_version(conn, parsed)
    assert isinstance(parsed, IdPrefix)
    if parsed.kind not in (None, "mv"):
        raise InvalidInput(f"{ref!r} is a {parsed.kind}- id, not a model version (mv-…)")
    return _by_prefix(versions.ids_with_prefix(conn, f"mv-{parsed.hex}"), ref, "model version")


def resolve_snapshot(conn: Connection, ref: str) -> str:
    parsed = parse_ref(ref)
    if not isinstance(parsed, IdPrefix) or parsed.kind not in (None, "ds"):
        raise InvalidInput(f"{ref!r} is not a snapshot id (ds-…)")
    return _by_prefix(snapshots.ids_with_prefix(conn, f"ds-{parsed.hex}"), ref, "snapshot")


def _live_version(conn: Connection, ref: NameEnv) -> str:
    """The pinned id live in the environment now; it must be a version of the named model."""
    env = environments.get(conn, ref.env)
    if env is None:
        raise NotFound(f"{ref.name}@{ref.env}: no environment named {ref.env!r}")
    if env.current_id is None:
        raise NotFound(f"{ref.name}@{ref.env}: nothing is live in {ref.env} yet")
    live = versions.get(conn, env.current_id) if env.current_id.startswith("mv-") else None
    if live is None or live.name != ref.name:
        raise NotFound(
            f"{ref.name}@{ref.env}: {ref.env} runs {env.current_id}, not a {ref.name} version"
        )
    return live.id
