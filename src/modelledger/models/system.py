"""Composite systems: a version of a whole AI system (retrieval index, embedder, prompt template,
tools, router, generator…) as a pinned map of named components. Versioning only the generator
would be "a registry that lies": a reindex changes behaviour with no version to explain it.

The ``sys-`` id hashes the sorted component map only, so the same components are the same system
whatever it is called.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modelledger.core import ids
from modelledger.core.errors import InvalidInput

SYSTEM = "sys"
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
# an external artifact pinned by revision and content hash (a hosted checkpoint, a tool spec…)
_EXTERNAL = re.compile(r"^[^@#\s=]+@[^@#\s]+#(sha256:)?[0-9a-f]{64}$")


def parse_component(text: str) -> tuple[str, str]:
    """``KEY=REF`` from the command line; REF is resolved by the caller."""
    key, sep, ref = text.partition("=")
    key, ref = key.strip(), ref.strip()
    if not sep or not ref:
        raise InvalidInput(f"--component {text!r}: expected KEY=REF, e.g. generator=chat@3")
    if not _KEY.match(key):
        raise InvalidInput(
            f"--component {text!r}: the key must start with a letter and use letters, digits, "
            "'_', '.' or '-'"
        )
    return key, ref


def is_external(ref: str) -> bool:
    return bool(_EXTERNAL.match(ref))


def check_pinned(key: str, ref: str) -> str:
    """A resolved component must be immutable: a full mv-/ds-/sys- id or a hash-pinned external."""
    if (ids.is_id(ref) and ref.split("-", 1)[0] in ("mv", "ds", "sys")) or is_external(ref):
        return ref
    raise InvalidInput(
        f"component {key}={ref!r} is not pinned: use a version (mv-… or NAME@N), a snapshot "
        "(ds-…), a system (sys-…), or an external name@revision#sha256"
    )


def system_id(components: dict[str, str]) -> str:
    if not components:
        raise InvalidInput("a system needs at least one --component KEY=REF")
    for key, ref in components.items():
        check_pinned(key, ref)
    return ids.make_id(SYSTEM, {"schema": 1, "components": dict(sorted(components.items()))})


@dataclass(frozen=True)
class System:
    id: str
    name: str
    number: int
    components: dict[str, str]
    created_at: str
    created_by: str

    @property
    def label(self) -> str:
        return f"{self.name}@{self.number}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "number": self.number,
            "label": self.label,
            "components": dict(sorted(self.components.items())),
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


def diff_components(a: dict[str, str], b: dict[str, str]) -> dict[str, Any]:
    """What changed from system ``a`` to system ``b``, component by component."""
    keys = sorted(set(a) | set(b))
    return {
        "added": {k: b[k] for k in keys if k not in a},
        "removed": {k: a[k] for k in keys if k not in b},
        "changed": [
            {"key": k, "from": a[k], "to": b[k]} for k in keys if k in a and k in b and a[k] != b[k]
        ],
        "unchanged": [k for k in keys if a.get(k) == b.get(k)],
    }
