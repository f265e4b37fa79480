"""What an environment can run — a model version or a composite system — seen uniformly by the
gate, promotion, rehearsal and rollback: its models, the snapshots it pins, who created it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from modelledger.core.errors import NotFound
from modelledger.models.resolve import resolve_subject
from modelledger.models.store import systems, versions
from modelledger.models.system import System
from modelledger.models.version import ModelVersion


@dataclass(frozen=True)
class Deployable:
    id: str
    label: str
    registered_by: str
    models: tuple[ModelVersion, ...]  # the version itself, or every model a system pins
    snapshots: tuple[str, ...] = ()  # snapshots a system pins (retrieval index, prompts, tools)
    external: tuple[str, ...] = ()  # hash-pinned external components
    system: System | None = None

    @property
    def is_system(self) -> bool:
        return self.system is not None


def load(conn: Connection, subject_id: str) -> Deployable:
    if subject_id.startswith("sys-"):
        system = systems.get(conn, subject_id)
        if system is None:
            raise NotFound(f"no system {subject_id}")
        models: dict[str, ModelVersion] = {}
        snaps: set[str] = set()
        external: set[str] = set()
        _collect(conn, system, models, snaps, external, seen=set())
        return Deployable(
            system.id,
            system.label,
            system.created_by,
            # by name and number: ids hash code and lock, so their order differs between ledgers
            tuple(sorted(models.values(), key=lambda m: (m.name, m.number))),
            tuple(sorted(snaps)),
            tuple(sorted(external)),
            system,
        )
    version = versions.get(conn, subject_id)
    if version is None:
        raise NotFound(f"no model version {subject_id}")
    return Deployable(version.id, version.label, version.registered_by, (version,))


def _collect(
    conn: Connection,
    system: System,
    models: dict[str, ModelVersion],
    snaps: set[str],
    external: set[str],
    seen: set[str],
) -> None:
    """Flatten nested systems: a system may pin another system as a component."""
    seen.add(system.id)
    for ref in system.components.values():
        if ref.startswith("mv-"):
            found = versions.get(conn, ref)
            if found is not None:
                models[found.id] = found
        elif ref.startswith("ds-"):
            snaps.add(ref)
        elif ref.startswith("sys-"):
            inner = systems.get(conn, ref)
            if inner is not None and inner.id not in seen:
                _collect(conn, inner, models, snaps, external, seen)
        else:
            external.add(ref)


def resolve(conn: Connection, ref: str) -> Deployable:
    return load(conn, resolve_subject(conn, ref))


def labels(conn: Connection, ids: Iterable[str | None]) -> dict[str, str]:
    """Human labels (``fraud@3``, ``rag@2``) for the ids that have one."""
    wanted = {i for i in ids if i}
    out = {
        v.id: v.label for v in versions.get_many(conn, {i for i in wanted if i.startswith("mv-")})
    }
    out.update(
        {s.id: s.label for s in systems.get_many(conn, {i for i in wanted if i.startswith("sys-")})}
    )
    return out
