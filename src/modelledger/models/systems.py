"""Creating and reading composite systems."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from modelledger.core.errors import InvalidInput
from modelledger.core.names import validate_name
from modelledger.core.refs import NameEnv, parse_ref
from modelledger.data.resolve import resolve_snapshot
from modelledger.data.store import snapshots
from modelledger.ledger import events
from modelledger.ledger.home import Ledger, now
from modelledger.ledger.refs import live_pointer
from modelledger.models.deployables import labels
from modelledger.models.resolve import resolve_subject, resolve_system
from modelledger.models.store import systems
from modelledger.models.system import (
    System,
    diff_components,
    is_external,
    parse_component,
    system_id,
)


def _resolve_component(conn: Connection, key: str, ref: str) -> str:
    if is_external(ref):
        return ref
    try:
        parsed = parse_ref(ref)
    except InvalidInput:
        parsed = None
    if isinstance(parsed, NameEnv) and live_pointer(conn, parsed.env) is None:
        raise InvalidInput(
            f"component {key}={ref!r} floats: pin an external artifact by content as "
            "name@revision#sha256, or register it and use its mv- id"
        )
    try:
        if ref.startswith("ds-"):
            return resolve_snapshot(conn, ref)
        return resolve_subject(conn, ref)
    except InvalidInput:
        if "@" in ref:
            raise InvalidInput(
                f"component {key}={ref!r} floats: pin an external artifact by content as "
                "name@revision#sha256, or register it and use its mv- id"
            ) from None
        if "/" in ref or "." in ref:
            raise InvalidInput(
                f"component {key}={ref!r}: pin files as snapshots (`mledger data snapshot`) "
                "and use the ds- id"
            ) from None
        raise


def create(ledger: Ledger, name: str, components: list[str]) -> tuple[System, bool]:
    """``sys-`` from the resolved, sorted component map; the same map again is the same system."""
    validate_name(name, "system name")
    pairs = [parse_component(c) for c in components]
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise InvalidInput(f"--component {', '.join(dupes)} is given twice")
    with ledger.db.write() as conn:
        resolved = {k: _resolve_component(conn, k, r) for k, r in pairs}
        sid = system_id(resolved)
        existing = systems.get(conn, sid)
        if existing is not None:
            return existing, False
        system = System(sid, name, systems.next_number(conn, name), resolved, now(), ledger.user)
        systems.insert_system(conn, system)
        events.append(conn, "system.created", sid, ledger.user, system.created_at, system.to_json())
    return system, True


def _described(conn: Connection, system: System) -> dict[str, Any]:
    out = system.to_json()
    names = labels(conn, set(system.components.values()))
    snap_names = {
        s.id: s.name
        for s in snapshots.get_many(
            conn, {r for r in system.components.values() if r.startswith("ds-")}
        )
    }
    out["component_labels"] = {
        k: names.get(r) or (f"{snap_names[r]} (snapshot)" if r in snap_names else None)
        for k, r in system.components.items()
    }
    return out


def show(ledger: Ledger, ref: str) -> dict[str, Any]:
    with ledger.db.read() as conn:
        system = systems.get(conn, resolve_system(conn, ref))
        assert system is not None
        return _described(conn, system)


def diff(ledger: Ledger, a: str, b: str) -> dict[str, Any]:
    with ledger.db.read() as conn:
        sa_ = systems.get(conn, resolve_system(conn, a))
        sb = systems.get(conn, resolve_system(conn, b))
        assert sa_ is not None and sb is not None
        names = labels(conn, set(sa_.components.values()) | set(sb.components.values()))
    changes = diff_components(sa_.components, sb.components)
    for change in changes["changed"]:
        change["from_label"] = names.get(change["from"])
        change["to_label"] = names.get(change["to"])
    return {
        "a": {"id": sa_.id, "label": sa_.label},
        "b": {"id": sb.id, "label": sb.label},
        **changes,
    }


def list_systems(ledger: Ledger, name: str | None = None) -> list[System]:
    with ledger.db.read() as conn:
        return systems.listing(conn, name)
