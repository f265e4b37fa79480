"""What a higher capability may add to a registration, without models importing it: drift takes
its reference profile from the training data here. A hook runs in three steps — reads inside the
registering transaction, writes inside it once the version row exists, and work after commit —
and is installed by whoever composes the application (the CLI root and the Python API).

The version is the record that matters: a hook's work after commit can fail and the version
still stands, with the failure reported as a warning.
"""

from __future__ import annotations

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


_installed: list[RegistrationHook] = []


def install(hook: RegistrationHook) -> None:
    """Run ``hook`` on every registration in this process; installing the same key twice keeps
    the first."""
    if all(h.key != hook.key for h in _installed):
        _installed.append(hook)


def installed() -> tuple[RegistrationHook, ...]:
    return tuple(_installed)
