"""Turning what a person typed (full id, unique prefix, NAME@N, NAME@ENV) into one immutable id."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from modelledger.core.errors import AmbiguousReference, InvalidInput, NotFound
from modelledger.core.refs import IdPrefix, NameEnv, NameNumber, one_match, parse_ref
from modelledger.ledger.refs import all_pointers, live_pointer
from modelledger.models.store import systems, versions

LATEST = "latest"  # NAME@latest: the newest version, for reading it; it floats, so never pinned


def resolve_version(conn: Connection, ref: str, *, latest: bool = False) -> str:
    """A model version (mv-…). ``latest``: accept ``NAME@latest`` (reading commands only)."""
    return resolve_subject(conn, ref, kinds=("mv",), latest=latest)


def resolve_system(conn: Connection, ref: str) -> str:
    """A composite system (sys-…)."""
    return resolve_subject(conn, ref, kinds=("sys",))


def resolve_subject(
    conn: Connection, ref: str, kinds: tuple[str, ...] = ("mv", "sys"), *, latest: bool = False
) -> str:
    """What can be evaluated, promoted and served: a model version or a system."""
    try:
        parsed = parse_ref(ref)
    except InvalidInput:
        hint = _bare_name(conn, ref.strip(), kinds)
        if hint is None:
            raise
        raise InvalidInput(hint) from None
    if isinstance(parsed, NameNumber):
        return _by_number(conn, ref, parsed, kinds)
    if isinstance(parsed, NameEnv) and parsed.env == LATEST:
        if not latest:
            raise InvalidInput(
                f"{ref}: {parsed.name}@latest floats — pin a version here ({parsed.name}@N or its "
                "id); @latest is for reading (model show, lineage, verify, card)"
            )
        newest = _newest(conn, parsed.name, kinds)
        if newest is None:
            raise NotFound(f"{ref}: nothing is named {parsed.name!r}")
        return newest
    if isinstance(parsed, NameEnv):
        return _live(conn, parsed, kinds)
    assert isinstance(parsed, IdPrefix)
    names_of: dict[tuple[str, ...], str] = {("mv",): "model version", ("sys",): "system"}
    what = names_of.get(kinds, "model version or system")
    wanted = kinds if parsed.kind is None else (parsed.kind,)
    if not set(wanted) & set(kinds):
        names = " or ".join(f"{k}-…" for k in kinds)
        raise InvalidInput(f"{ref!r} is a {parsed.kind}- id, not a {what} ({names})")
    found: list[str] = []
    if "mv" in wanted:
        found += versions.ids_with_prefix(conn, f"mv-{parsed.hex}")
    if "sys" in wanted:
        found += systems.ids_with_prefix(conn, f"sys-{parsed.hex}")
    return one_match(found, ref, what)


def _newest(conn: Connection, name: str, kinds: tuple[str, ...]) -> str | None:
    for kind, store in (("mv", versions), ("sys", systems)):
        if kind in kinds and (number := store.next_number(conn, name) - 1) > 0:
            found: str | None = store.id_by_number(conn, name, number)
            return found
    return None


def _bare_name(conn: Connection, text: str, kinds: tuple[str, ...]) -> str | None:
    """What to type instead of a model's (or system's) bare name, when something has it."""
    for kind, store, what in (("mv", versions, "model"), ("sys", systems, "system")):
        if kind not in kinds:
            continue
        newest = store.next_number(conn, text) - 1 if text else 0
        if newest > 0:
            live = [
                p.env
                for p in all_pointers(conn)
                if p.current_id is not None
                and p.current_id.startswith(f"{kind}-")
                and getattr(store.get(conn, p.current_id), "name", None) == text
            ]
            where = "".join(f" or {text}@{env} (live there)" for env in live)
            return (
                f"{text!r} is a {what} name, not a version: give {text}@{newest} (the newest)"
                f"{where}, {text}@N, or an id"
            )
    return None


def _by_number(conn: Connection, ref: str, parsed: NameNumber, kinds: tuple[str, ...]) -> str:
    found = []
    if "mv" in kinds and (v := versions.id_by_number(conn, parsed.name, parsed.number)):
        found.append(v)
    if "sys" in kinds and (s := systems.id_by_number(conn, parsed.name, parsed.number)):
        found.append(s)
    if len(found) > 1:
        raise AmbiguousReference(ref, found)  # a model and a system share the name
    if found:
        return found[0]
    latest = max(
        versions.next_number(conn, parsed.name) - 1 if "mv" in kinds else 0,
        systems.next_number(conn, parsed.name) - 1 if "sys" in kinds else 0,
    )
    hint = (
        f" (latest is {parsed.name}@{latest})" if latest else f" (nothing is named {parsed.name!r})"
    )
    raise NotFound(f"{ref}: no such version{hint}")


def _live(conn: Connection, ref: NameEnv, kinds: tuple[str, ...]) -> str:
    """The pinned id live in the environment now; it must be a version of the named model/system."""
    env = live_pointer(conn, ref.env)
    if env is None:
        raise NotFound(f"{ref.name}@{ref.env}: no environment named {ref.env!r}")
    if env.current_id is None:
        raise NotFound(f"{ref.name}@{ref.env}: nothing is live in {ref.env} yet")
    current = env.current_id
    name = None
    if current.startswith("mv-") and "mv" in kinds:
        found = versions.get(conn, current)
        name = found.name if found else None
    elif current.startswith("sys-") and "sys" in kinds:
        system = systems.get(conn, current)
        name = system.name if system else None
    if name != ref.name:
        raise NotFound(f"{ref.name}@{ref.env}: {ref.env} runs {current}, not a {ref.name} version")
    return current
