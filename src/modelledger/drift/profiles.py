"""Reference profiles: taken from a version's tabular training snapshots when it is registered,
or from served traffic (``drift baseline``), stored as immutable blobs listed per version."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from modelledger.core.canonical import canonical_json
from modelledger.core.errors import InvalidInput, NotFound
from modelledger.data.snapshot import get_snapshot
from modelledger.data.tables import LocalTables, tabular_files
from modelledger.drift.profile import (
    FeatureProfile,
    ReferenceProfile,
    categorical_profile,
    numeric_profile,
)
from modelledger.drift.profile_key import TOP_K
from modelledger.drift.profile_store import StoredProfile
from modelledger.drift.store import profiles
from modelledger.ledger import cards, events
from modelledger.ledger.home import Ledger, now
from modelledger.models.version import TRAINING_ROLES, ModelVersion

_NUMERIC_CARD_TYPES = ("float", "int")
IDENTIFIER_SHARE = 0.5  # distinct values over non-null values above which a column is an id


def _kinds(types: dict[str, str], inputs: dict[str, str] | None, skip: set[str]) -> dict[str, str]:
    """Column → "numeric" | "categorical": the card's declared input types when it has them
    (and then only those inputs), else the column's type in the data."""
    from modelledger.tabular.sql import is_numeric

    out: dict[str, str] = {}
    for name, duck in types.items():
        if name in skip or (inputs is not None and name not in inputs):
            continue
        declared = inputs.get(name) if inputs else None
        numeric = declared in _NUMERIC_CARD_TYPES if declared else is_numeric(duck)
        out[name] = "numeric" if numeric else "categorical"
    return out


def profile_relation(
    con: Any, relation: str, kinds: dict[str, str], rows: int
) -> dict[str, FeatureProfile]:
    """Profile every column of ``kinds`` in ``relation`` (one scan for the numeric ones). A
    categorical column whose values are nearly all distinct is an identifier (a customer id, a
    request id): it is left out, because its most frequent values would be personal data kept
    forever in an immutable blob, and they say nothing about drift."""
    from modelledger.drift.features import distinct_counts, numeric_columns, value_counts

    numeric = [n for n, k in kinds.items() if k == "numeric"]
    out = {n: numeric_profile(v) for n, v in numeric_columns(con, relation, numeric).items()}
    categorical = [n for n, k in kinds.items() if k == "categorical"]
    for name, (distinct, non_null) in distinct_counts(con, relation, categorical).items():
        if distinct > TOP_K and distinct > non_null * IDENTIFIER_SHARE:
            continue
        out[name] = categorical_profile(value_counts(con, relation, name))
    return out


def output_profile(pairs: list[tuple[Any, int]], numeric: Callable[[], Any]) -> FeatureProfile:
    """A label column's profile: categorical for a classifier's few classes, else numeric
    quantile bins (``numeric`` fetches the values only when needed)."""
    present = [(v, n) for v, n in pairs if v is not None]
    is_number = all(isinstance(v, int | float) and not isinstance(v, bool) for v, _ in present)
    if is_number and len(present) > TOP_K:
        return numeric_profile(numeric())
    return categorical_profile(pairs)


def training_profile(ledger: Ledger, version: ModelVersion) -> ReferenceProfile | None:
    """The profile of the version's tabular training snapshots; None when it has none."""
    snapshot_ids = sorted({d.snapshot_id for d in version.tuple.data if d.role in TRAINING_ROLES})
    with ledger.db.read() as conn:
        found = cards.latest(conn, "model", version.id)
    card = found[1] if found else {}
    files = []
    for snapshot_id in snapshot_ids:
        snap = get_snapshot(ledger, snapshot_id)
        files += tabular_files(snap.id, ledger.blobs.get_tree(snap.tree_sha256))
    if not files:
        return None
    from modelledger.drift.features import numeric_columns, row_count, value_counts
    from modelledger.tabular.reading import with_reader

    label = card.get("label")
    with LocalTables(ledger) as local:
        tables = [local.table(f) for f in files]

        def read(reader: Any) -> ReferenceProfile:
            sources = [reader.open(t) for t in tables]
            relation = (
                "(" + " UNION ALL BY NAME ".join(f"SELECT * FROM {s.view}" for s in sources) + ")"
            )
            types: dict[str, str] = {}
            for s in sources:
                for c in s.columns:
                    types.setdefault(c.name, c.type)
            if label is not None and label not in types:
                raise InvalidInput(
                    f"model card label {label!r} is not a column of the training data "
                    f"(columns: {', '.join(sorted(types))})"
                )
            kinds = _kinds(types, card.get("inputs"), {label} if label else set())
            con = reader.con
            rows = row_count(con, relation)
            output = None
            if label is not None:
                output = output_profile(
                    value_counts(con, relation, label),
                    lambda: numeric_columns(con, relation, [label])[label],
                )
            return ReferenceProfile(
                features=profile_relation(con, relation, kinds, rows),
                source={"kind": "training", "snapshots": snapshot_ids},
                rows=rows,
                output=output,
                label=label,
            )

        return with_reader(read)


def store_profile(
    ledger: Ledger, subject_id: str, profile: ReferenceProfile, source_key: str | None = None
) -> StoredProfile:
    """Keep the profile (a blob) and list it under the version, with an event saying so."""
    data = canonical_json(profile.to_json())
    info = ledger.blobs.put_bytes(data)
    at = now()
    source = str(profile.source["kind"])
    with ledger.db.write() as conn:
        if profiles.add(
            conn, subject_id, sha256=info.sha256, source=source, rows=profile.rows,
            features=len(profile.features), at=at, user=ledger.user, source_key=source_key,
        ):  # fmt: skip
            events.append(
                conn, "drift.profile", subject_id, ledger.user, at,
                {"profile": info.sha256, "source": profile.source, "rows": profile.rows,
                 "features": sorted(profile.features)},
            )  # fmt: skip
    return StoredProfile(info.sha256, source, profile.rows, len(profile.features), at)


def profile_at_registration(
    ledger: Ledger, version: ModelVersion, source_key: str
) -> StoredProfile | None:
    """Profile a newly registered version's training data, when it is tabular."""
    found = training_profile(ledger, version)
    return None if found is None else store_profile(ledger, version.id, found, source_key)


def latest_profile(
    ledger: Ledger, subject_id: str, source: str | None = None
) -> tuple[StoredProfile, ReferenceProfile] | None:
    """The newest profile of the version (of ``source`` when given), read back from its blob."""
    with ledger.db.read() as conn:
        rows = profiles.listed(conn, subject_id)
    for row in rows:
        if source is None or row["source"] == source:
            stored = StoredProfile(
                row["profile_sha256"], row["source"], row["rows"], row["features"],
                row["created_at"],
            )  # fmt: skip
            data = json.loads(ledger.blobs.get(stored.sha256))
            return stored, ReferenceProfile.from_json(data)
    return None


def require_profile(
    ledger: Ledger, subject_id: str, label: str, env: str, source: str | None = None
) -> tuple[StoredProfile, ReferenceProfile]:
    found = latest_profile(ledger, subject_id, source)
    if found is None:
        raise NotFound(no_profile_message(label, env))
    return found


def no_profile_message(label: str, env: str) -> str:
    return (
        f"{label} has no reference profile: register it with a tabular training snapshot "
        f"(--data ds-…:train) or take one from served traffic with "
        f"`mledger drift baseline {env} --window 7d --version {label}`"
    )
