"""Tags and a description on a version: labels outside the tuple, so they may change, and each
change is an event (``model.tag``, ``model.description``) with who, when, the old value and the
new. Setting what is already there writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelledger.core import labels as rules
from modelledger.core.errors import InvalidInput, NotFound
from modelledger.ledger import events
from modelledger.ledger.home import Ledger, now
from modelledger.models.resolve import resolve_version
from modelledger.models.store import labels, versions
from modelledger.models.version import ModelVersion


@dataclass(frozen=True)
class Change:
    key: str  # the tag's key, or "description"
    old: str | None
    new: str | None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Labelled:
    version: ModelVersion
    changes: list[Change]
    tags: dict[str, str]
    description: str | None

    def to_json(self) -> dict[str, Any]:
        """As ``model tag --json`` and ``model describe --json`` print it."""
        return {
            "id": self.version.id,
            "label": self.version.label,
            "changes": [c.to_json() for c in self.changes],
            "tags": self.tags,
            "description": self.description,
        }


def tag(
    ledger: Ledger, ref: str, given: dict[str, str], remove: list[str] | None = None
) -> Labelled:
    """Set ``given`` and remove the keys in ``remove`` (each must be there), in one transaction."""
    drop = [rules.tag_key(k) for k in remove or []]
    both = set(drop) & set(given)
    if both:
        raise InvalidInput(f"tag {sorted(both)[0]!r} is both set and removed")
    with ledger.db.write() as conn:
        version = _version(conn, ref)
        current = labels.tags(conn, version.id)
        missing = [k for k in drop if k not in current]
        if missing:
            have = ", ".join(sorted(current)) or "none"
            raise NotFound(f"{version.label} has no tag {missing[0]!r} (its tags: {have})")
        changes = [Change(k, current.get(k), v) for k, v in given.items() if current.get(k) != v]
        changes += [Change(k, current[k], None) for k in drop]
        at = now()
        for c in changes:
            payload = {"version": version.id, **c.to_json()}
            ev = events.append(conn, "model.tag", version.id, ledger.user, at, payload)
            if c.new is None:
                labels.remove_tag(conn, version.id, c.key)
            else:
                labels.set_tag(conn, version.id, c.key, c.new, at, ledger.user, ev.seq)
        return Labelled(
            version, changes, labels.tags(conn, version.id), labels.description(conn, version.id)
        )


def describe(ledger: Ledger, ref: str, text: str | None) -> Labelled:
    """Set the description, or remove it with ``text=None``."""
    new = rules.description(text) if text is not None else None
    with ledger.db.write() as conn:
        version = _version(conn, ref)
        old = labels.description(conn, version.id)
        if old is None and new is None:
            raise NotFound(f"{version.label} has no description to clear")
        changes = [] if old == new else [Change("description", old, new)]
        if changes:
            at = now()
            payload = {"version": version.id, "old": old, "new": new}
            ev = events.append(conn, "model.description", version.id, ledger.user, at, payload)
            labels.set_description(conn, version.id, new, at, ledger.user, ev.seq)
        return Labelled(version, changes, labels.tags(conn, version.id), new)


def _version(conn: Any, ref: str) -> ModelVersion:
    found = versions.get(conn, resolve_version(conn, ref))
    assert found is not None
    return found
