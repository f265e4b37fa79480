"""Which reference profile a version has: the records, without the numbers. Registration uses
this on every call, so it imports nothing heavier than the store (the profiles themselves are
computed with numpy and DuckDB in ``drift_profiles``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelledger.drift.store import profiles
from modelledger.ledger import events


@dataclass(frozen=True)
class StoredProfile:
    sha256: str
    source: str
    rows: int
    features: int
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.sha256,
            "source": self.source,
            "rows": self.rows,
            "features": self.features,
            "created_at": self.created_at,
        }


def profile_from_same_data(conn: Any, source_key: str) -> dict[str, Any] | None:
    """The profile already taken from the same training data (same key), if there is one."""
    return profiles.by_source_key(conn, source_key)


def share_profile(
    conn: Any, version_id: str, found: dict[str, Any], at: str, user: str
) -> StoredProfile:
    """In the registering transaction: list ``found`` (from ``profile_from_same_data``) under
    the new version as well — no data is read again."""
    sha, rows, features = found["profile_sha256"], found["rows"], found["features"]
    profiles.add(
        conn, version_id, sha256=sha, source="training", rows=rows, features=features, at=at,
        user=user, source_key=found["source_key"], new_version=True,
    )  # fmt: skip
    events.append(
        conn, "drift.profile", version_id, user, at,
        {"profile": sha, "source": {"kind": "training"}, "rows": rows, "features": features,
         "shared_from": found["version_id"]},
    )  # fmt: skip
    return StoredProfile(sha, "training", rows, features, at)
