"""What `mledger gc` keeps and what it may collect, and why each: pure, from the facts
``facts.py`` reads.

Kept forever, whatever the policy: every version that ever served an environment (a system's
components with it), its immediate parents and base models, the rollback target its card names,
every eval set, and the snapshots kept versions trained on. Kept for the policy's window: other
versions (experiments) and snapshots. Bytes named by anything kept, or by any other record (eval
reports, prediction segments, reference profiles, transform code), are never collected; nor is
any record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from modelledger.retention.policy import RetentionPolicy


@dataclass(frozen=True)
class Item:
    """A version or a snapshot, with the bytes it names."""

    id: str
    kind: str  # version | snapshot
    label: str  # NAME@N, or the dataset's name
    name: str  # what the policy's overrides match
    created_at: datetime
    blobs: tuple[str, ...]
    links: tuple[tuple[str, str], ...] = ()  # (relation, id): parent, base, data, rollback


@dataclass(frozen=True)
class Facts:
    versions: list[Item]
    snapshots: list[Item]
    ever_live: set[str]  # version ids that served an environment (system components included)
    eval_sets: set[str]
    pinned: set[str]  # blobs other records name
    collected: set[str]  # items already collected (their tombstones)
    now: datetime


@dataclass
class Decision:
    item: Item
    keep: bool
    reason: str
    tier: str  # served | lineage | eval set | trained on | window | eligible | collected
    blobs: list[str] = field(default_factory=list)  # the bytes collecting it would free

    def to_json(self, sizes: dict[str, int]) -> dict[str, Any]:
        return {
            "id": self.item.id,
            "kind": self.item.kind,
            "label": self.item.label,
            "keep": self.keep,
            "tier": self.tier,
            "reason": self.reason,
            "bytes": sum(sizes.get(b, 0) for b in self.blobs),
            "blobs": self.blobs,
        }


def plan(facts: Facts, policy: RetentionPolicy) -> list[Decision]:
    """A decision for every version and snapshot, kept ones first."""
    by_id = {i.id: i for i in (*facts.versions, *facts.snapshots)}
    kept: dict[str, tuple[str, str]] = {}  # id → (tier, reason)

    def keep(item_id: str, tier: str, reason: str) -> None:
        if item_id in by_id and item_id not in kept:
            kept[item_id] = (tier, reason)

    for v in facts.versions:
        if v.id in facts.ever_live:
            keep(v.id, "served", "served an environment")
    for v in facts.versions:
        if v.id not in facts.ever_live:
            continue
        for relation, other in v.links:
            if relation in ("parent", "base"):
                keep(
                    other,
                    "lineage",
                    f"{'parent' if relation == 'parent' else 'base model'} of {v.label}",
                )
            elif relation == "rollback":
                keep(other, "lineage", f"rollback target of {v.label}")
    for v in facts.versions:
        age = facts.now - v.created_at
        window = policy.experiments_for(v.name)
        if age < window:
            keep(v.id, "window", f"an experiment {_days(age)} old, kept for {_days(window)}")
    for s in facts.snapshots:
        if s.id in facts.eval_sets:
            keep(s.id, "eval set", "an eval set")
    for v in facts.versions:
        if v.id in kept:
            for relation, other in v.links:
                if relation == "data":
                    keep(other, "trained on", f"trained {v.label}")
    for s in facts.snapshots:
        age = facts.now - s.created_at
        window = policy.snapshots_for(s.name)
        if age < window:
            keep(s.id, "window", f"a snapshot {_days(age)} old, kept for {_days(window)}")
    held = set(facts.pinned)
    for item_id in kept:
        held.update(by_id[item_id].blobs)
    out: list[Decision] = []
    for item in (*facts.versions, *facts.snapshots):
        if item.id in kept:
            tier, reason = kept[item.id]
            out.append(Decision(item, True, reason, tier))
        elif item.id in facts.collected:  # what a run killed midway left is swept
            free = sorted({b for b in item.blobs if b not in held})
            out.append(Decision(item, False, "collected before", "collected", free))
        else:
            window = (policy.experiments_for if item.kind == "version" else policy.snapshots_for)(
                item.name
            )
            age = facts.now - item.created_at
            what = "never served" if item.kind == "version" else "no kept version trained on it"
            free = sorted({b for b in item.blobs if b not in held})
            out.append(
                Decision(
                    item, False, f"{what}; {_days(age)} old, past {_days(window)}", "eligible", free
                )
            )
    out.sort(key=lambda d: (not d.keep, d.item.kind, d.item.created_at))
    return out


def tiers(decisions: Iterable[Decision], sizes: dict[str, int]) -> dict[str, dict[str, int]]:
    """Per tier: how many items, and (for the eligible) the bytes they would free, a blob two
    items share counted once."""
    out: dict[str, dict[str, int]] = {}
    seen: dict[str, set[str]] = {}
    for d in decisions:
        t = out.setdefault(d.tier, {"items": 0, "bytes": 0})
        t["items"] += 1
        if d.tier == "collected":
            continue  # their bytes are gone (what a killed run left is swept, not promised)
        new = set(d.blobs) - seen.setdefault(d.tier, set())
        seen[d.tier] |= new
        t["bytes"] += sum(sizes.get(b, 0) for b in new)
    return out


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    if days >= 1:
        return f"{days:.0f}d"
    return f"{delta.total_seconds() / 3600:.0f}h"
