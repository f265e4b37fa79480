"""What a training profile depends on, as one key: the training snapshots, the card's label and
declared inputs, and how profiles bin. Equal keys, equal profiles — so a nightly retrain on
the same snapshot reuses the profile instead of reading the data again. No numpy here:
registration computes the key on every call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelledger.core.canonical import digest

PROFILE_SCHEMA = 1
BINS = 20  # quantile bins: fine enough for a binned KS test, coarse enough for a stable PSI
TOP_K = 64  # categories kept by name; the rest are counted together as "other"


def training_key(snapshot_ids: Iterable[str], card: Mapping[str, Any] | None) -> str:
    card = card or {}
    return digest(
        {
            "schema": PROFILE_SCHEMA,
            "bins": BINS,
            "top_k": TOP_K,
            "snapshots": sorted(set(snapshot_ids)),
            "label": card.get("label"),
            "inputs": card.get("inputs"),
        }
    )
