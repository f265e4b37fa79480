"""The exceptions modelledger raises, in one public place (``from modelledger.errors import
NotFound``). Every one is a :class:`MledgerError`; its ``exit_code`` is what the CLI exits with.

MledgerError                 exit 2 unless said otherwise: bad usage or input
├── InvalidInput             a value the user gave is malformed (names the field)
├── NotFound                 a reference resolves to nothing
├── AmbiguousReference       a prefix matches several ids (lists them)
├── NoLedger                 no .mledger/ found and no MLEDGER_DB_URL set
├── DirtyWorkingTree         uncommitted changes and no --allow-dirty
├── ImmutableRecord          something tried to change a record that is append-only
├── Conflict                 a write lost to a concurrent one or broke a constraint
│   └── AlreadyLogged        a request id is already in the inference log
├── StoreUnavailable         the database or blob store cannot be reached
├── WebhookFailed            a drift alert's webhook did not take the alert
├── NotAllowed               exit 3: the identity asking may not do this (role, four eyes)
└── CheckFailed              exit 1: a check ran and its answer is "no" (verify, gate)
    ├── GateFailed           promotion refused: ``.decision.report`` says which criteria failed
    ├── RehearsalFailed      rollback refused: ``.checks`` says what the target failed
    └── LoadFailed           a model version could not be loaded or lacks ``predict``

The core ones are defined here at no cost; the others live with their capability and are loaded
when first named, so that importing this module stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from modelledger.core.errors import (
    AmbiguousReference,
    CheckFailed,
    Conflict,
    DirtyWorkingTree,
    ImmutableRecord,
    InvalidInput,
    MledgerError,
    NoLedger,
    NotAllowed,
    NotFound,
    StoreUnavailable,
)

if TYPE_CHECKING:  # what __getattr__ below loads on first use
    from modelledger.drift.alerts import WebhookFailed
    from modelledger.models.loaders import LoadFailed
    from modelledger.predictions.store.writes import AlreadyLogged
    from modelledger.releases.promote import GateFailed
    from modelledger.releases.rehearse import RehearsalFailed

_ELSEWHERE = {
    "AlreadyLogged": "modelledger.predictions.store.writes",
    "GateFailed": "modelledger.releases.promote",
    "LoadFailed": "modelledger.models.loaders",
    "RehearsalFailed": "modelledger.releases.rehearse",
    "WebhookFailed": "modelledger.drift.alerts",
}

__all__ = [
    "AlreadyLogged",
    "AmbiguousReference",
    "CheckFailed",
    "Conflict",
    "DirtyWorkingTree",
    "GateFailed",
    "ImmutableRecord",
    "InvalidInput",
    "LoadFailed",
    "MledgerError",
    "NoLedger",
    "NotAllowed",
    "NotFound",
    "RehearsalFailed",
    "StoreUnavailable",
    "WebhookFailed",
]


def __getattr__(name: str) -> Any:
    if name in _ELSEWHERE:
        return getattr(import_module(_ELSEWHERE[name]), name)
    raise AttributeError(f"module 'modelledger.errors' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*__all__, *(n for n in globals() if n.startswith("__"))})
