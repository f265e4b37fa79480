"""What a higher capability may add to a registration, without models importing it: drift takes
its reference profile from the training data here. A hook runs in three steps — reads inside the
registering transaction, writes inside it once the version row exists, and work after commit —
and is installed by whoever composes the application (the CLI root and the Python API), by
name, so that it is loaded only when a version is registered.

The version is the record that matters: a hook's work after commit can fail and the version
still stands, with the failure reported as a warning.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from modelledger.ledger.home import Ledger
    from modelledger.models.version import DataRef, ModelVersion


class RegistrationHook(Protocol):
    """One capability's part in registration. ``key`` names its result in
    ``RegisterResult.extras`` and in ``model register --json``."""

    key: str
    label: str  # what it adds, for the warning when it fails: "no <label>: <why>"

    def prepare(
        self, conn: Connection, data: Sequence[DataRef], card: Mapping[str, Any] | None
    ) -> Any:
        """Inside the transaction, before the version is written: what the later steps need
        (None: nothing to do for this version)."""

    def in_transaction(
        self, conn: Connection, version: ModelVersion, plan: Any, at: str, user: str
    ) -> Any:
        """Inside the transaction, after a new version's row: a result, or None."""

    def after_commit(self, ledger: Ledger, version: ModelVersion, plan: Any) -> Any:
        """After commit, when ``in_transaction`` gave nothing: a result, or None."""

    def to_json(self, result: Any) -> Any:
        """The result as ``model register --json`` shows it (None when there is none)."""

    def summary(self, result: Any) -> str:
        """One line for people about a result."""


# The hooks in force: instances, or where to find one ("package.module:Class"), made on first
# registration so that a command which registers nothing never imports it.
_installed: list[RegistrationHook | str] = []


def install(hook: RegistrationHook | str) -> None:
    """Run ``hook`` (an instance, or ``"module:Class"`` to make one when first needed) on every
    registration in this process; installing the same one twice changes nothing."""
    if hook not in _installed:
        _installed.append(hook)


def installed() -> tuple[RegistrationHook, ...]:
    made: list[RegistrationHook] = []
    for i, hook in enumerate(_installed):
        if isinstance(hook, str):
            module, _, name = hook.partition(":")
            hook = _installed[i] = getattr(importlib.import_module(module), name)()
        if all(h.key != hook.key for h in made):
            made.append(hook)
    return tuple(made)
