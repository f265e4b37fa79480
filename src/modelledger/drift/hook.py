"""Drift's part in registration: a version trained on tabular snapshots gets its reference
profile, shared from an earlier version trained on the same data when there is one (no data is
read again), else taken from the data after the version is committed. Installed by name and
loaded on the first registration; numpy and DuckDB are loaded only when a profile is computed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelledger.drift.profile_key import training_key
from modelledger.drift.profile_store import StoredProfile, profile_from_same_data, share_profile
from modelledger.models.version import TRAINING_ROLES

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from modelledger.ledger.home import Ledger
    from modelledger.models.version import DataRef, ModelVersion


@dataclass(frozen=True)
class _Plan:
    key: str  # what the profile depends on (training snapshots, card's label and inputs)
    shared: dict[str, Any] | None  # the profile already taken from the same data


class ProfileHook:
    key = "drift_profile"
    label = "drift reference profile"

    def prepare(
        self, conn: Connection, data: Sequence[DataRef], card: Mapping[str, Any] | None
    ) -> _Plan | None:
        training = [d.snapshot_id for d in data if d.role in TRAINING_ROLES]
        if not training:
            return None
        key = training_key(training, card)
        return _Plan(key, profile_from_same_data(conn, key))

    def in_transaction(
        self, conn: Connection, version: ModelVersion, plan: _Plan | None, at: str, user: str
    ) -> StoredProfile | None:
        if plan is None or plan.shared is None:
            return None
        return share_profile(conn, version.id, plan.shared, at, user)

    def after_commit(
        self, ledger: Ledger, version: ModelVersion, plan: _Plan | None
    ) -> StoredProfile | None:
        if plan is None:
            return None
        from modelledger.drift.profiles import profile_at_registration

        return profile_at_registration(ledger, version, plan.key)

    def to_json(self, result: StoredProfile | None) -> dict[str, Any] | None:
        return result.to_json() if result is not None else None

    def summary(self, result: StoredProfile) -> str:
        return (
            f"drift reference: {result.features} features from {result.rows:,} training rows "
            f"(profile {result.sha256[:12]})"
        )
