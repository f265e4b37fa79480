"""`mledger gc`: the plan carried out. Each eligible version's or snapshot's bytes are removed
(loose objects, each moved aside and checked again first: ``BlobStore.collect``), then its
tombstone is appended: what went, how many bytes, under which policy. Records are never touched.
A run that stops halfway (kill -9) leaves the store whole: what it removed has a tombstone or
is named by nothing kept, and the next run finishes the rest."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelledger.blobs import removal, repack
from modelledger.blobs.store import BlobStore
from modelledger.ledger import events, tombstones
from modelledger.ledger.home import Ledger, now
from modelledger.retention.facts import POLICY_KIND, current_policy, policy_payload, read_facts
from modelledger.retention.plan import Decision, plan, tiers
from modelledger.retention.policy import RetentionPolicy

BATCH = 200  # tombstones per write transaction


@dataclass
class Run:
    policy: RetentionPolicy
    decisions: list[Decision]
    sizes: dict[str, int]
    dry_run: bool
    collected: list[dict[str, Any]] = field(default_factory=list)
    freed: int = 0
    kept_back: int = 0  # objects written or reused within the grace period
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "policy_sha256": self.policy.sha256,
            "policy": self.policy.document,
            "tiers": tiers(self.decisions, self.sizes),
            "decisions": [d.to_json(self.sizes) for d in self.decisions],
            "collected": self.collected,
            "freed_bytes": self.freed,
            "kept_back_objects": self.kept_back,
            "seconds": round(self.seconds, 3),
        }


def gc(ledger: Ledger, dry_run: bool = True, on_item: Callable[[int], None] | None = None) -> Run:
    started = time.perf_counter()
    policy, _ = current_policy(ledger)
    facts, sizes = read_facts(ledger)
    decisions = plan(facts, policy)
    run = Run(policy, decisions, sizes, dry_run)
    if not dry_run:
        _collect(ledger, run, on_item or (lambda n: None))
    run.seconds = time.perf_counter() - started
    return run


def _collect(ledger: Ledger, run: Run, advance: Callable[[int], None]) -> None:
    """In batches: the tombstones first, then the removals (loose objects one by one, packed
    ones by rewriting their packs once every batch is done). A run killed between the two
    leaves bytes behind for an item already marked collected; the next run sweeps them (the
    "collected" tier), so an item's bytes never go without a tombstone and none stay for long."""
    store = ledger.blobs
    removal.restore_aside(store)  # what a run killed midway left moved aside
    repack.restore_aside(store)
    grace, clock = run.policy.grace.total_seconds(), time.time()
    due = [d for d in run.decisions if d.tier in ("eligible", "collected") and d.blobs]
    old_packed = _in_old_packs(store, {b for d in due for b in d.blobs}, grace, clock)
    ready: list[Decision] = []
    for d in due:
        there = [sha for sha in d.blobs if sha in old_packed or store.has(sha, recheck=False)]
        stale = [
            sha for sha in there if sha in old_packed or removal.stale(store, sha, grace, clock)
        ]
        run.kept_back += len(there) - len(stale)
        if stale:
            ready.append(Decision(d.item, d.keep, d.reason, d.tier, stale))
    dead: set[str] = set()
    # an item's listing (a snapshot's tree, a folder artifact's) goes last, once the files it
    # names are gone: a run killed before then leaves the listing that tells the next what is left
    listings = {d.item.blobs[0] for d in ready if d.item.blobs and d.item.blobs[0] in d.blobs}
    for i in range(0, len(ready), BATCH):
        batch = ready[i : i + BATCH]
        _tombstones(ledger, run, [d for d in batch if d.tier == "eligible"])
        for d in batch:
            for sha in d.blobs:
                if sha in old_packed:
                    dead.add(sha)  # (and a loose copy beside it, if any, goes now)
                    run.freed += removal.collect(store, sha, grace, clock)
                elif sha not in listings:
                    run.freed += removal.collect(store, sha, grace, clock)
            advance(1)
    done = repack.drop_from_packs(store, dead, grace, clock)
    run.freed += done.freed
    run.kept_back += done.kept_back
    for sha in sorted(listings - dead):
        run.freed += removal.collect(store, sha, grace, clock)


def _in_old_packs(store: BlobStore, shas: set[str], grace: float, clock: float) -> set[str]:
    """Those of ``shas`` held by packs neither written nor reused within the grace period."""
    out: set[str] = set()
    if not store.local:
        return out  # object stores hold no packs
    for pack, held in store.packs.held_by(shas).items():
        with contextlib.suppress(FileNotFoundError):
            if clock - os.stat(pack).st_mtime >= grace:
                out |= held
    return out


def _tombstones(ledger: Ledger, run: Run, batch: list[Decision]) -> None:
    with ledger.db.write() as conn:
        at = now()
        for d in batch:
            payload = {
                "what": d.item.kind,
                "label": d.item.label,
                "blobs": d.blobs,
                "bytes": sum(run.sizes.get(b, 0) for b in d.blobs),
                "policy": run.policy.sha256,
                "reason": d.reason,
            }
            events.append(conn, tombstones.KIND, d.item.id, ledger.user, at, payload)
            run.collected.append({"id": d.item.id, **payload})


def set_policy(ledger: Ledger, policy: RetentionPolicy) -> bool:
    """Make ``policy`` the one in force (an event); False when it already is."""
    current, seq = current_policy(ledger)
    if seq is not None and current.sha256 == policy.sha256:
        return False
    with ledger.db.write() as conn:
        events.append(conn, POLICY_KIND, "retention", ledger.user, now(), policy_payload(policy))
    return True
