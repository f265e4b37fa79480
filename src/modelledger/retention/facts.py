"""What the retention plan is made from, read from the ledger and its store in one snapshot."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from modelledger.core.clock import parse_time
from modelledger.core.errors import MledgerError
from modelledger.ledger import cards, events, tombstones
from modelledger.ledger.home import Ledger
from modelledger.retention.plan import Facts, Item
from modelledger.retention.policy import RetentionPolicy, parse_policy

POLICY_KIND = "retention.policy"


def current_policy(ledger: Ledger) -> tuple[RetentionPolicy, int | None]:
    """The policy in force (the newest one set, else the default) and the event that set it."""
    with ledger.db.read() as conn:
        found = events.listing(conn, kind=POLICY_KIND, limit=1)
    if not found:
        return parse_policy({}), None
    return parse_policy(found[-1].payload["policy"]), found[-1].seq


def read_facts(ledger: Ledger, now: datetime | None = None) -> tuple[Facts, dict[str, int]]:
    """The facts, and the size of every blob they name (as far as the records tell)."""
    from modelledger.data.store import snapshots, transforms
    from modelledger.drift.store.blob_refs import profile_blobs
    from modelledger.evals import store as evals
    from modelledger.models.store import systems, versions
    from modelledger.predictions.store.blob_refs import eval_report_blobs, segment_blobs
    from modelledger.releases import store as environments

    sizes: dict[str, int] = {}
    with ledger.db.read() as conn:
        found_versions = [_version(*row) for row in versions.tuples(conn)]
        found_snaps = snapshots.listing(conn, None, limit=None)
        live = environments.ever_live(conn)
        ever = {i for i in live if i.startswith("mv-")}
        for system in systems.get_many(conn, {i for i in live if i.startswith("sys-")}):
            for ref in system.components.values():
                if ref.startswith("mv-"):
                    ever.add(ref)
        rollback: dict[str, str] = {}
        for vid in ever:
            card = cards.latest(conn, "model", vid)
            target = card[1].get("rollback_target") if card else None
            if isinstance(target, str) and target.startswith("mv-"):
                rollback[vid] = target
        eval_sets = {s["id"] for s in evals.list_eval_sets(conn)}
        pinned = {r["report_sha256"] for r in eval_report_blobs(conn)}
        pinned |= {r["id"] for r in segment_blobs(conn)}
        pinned |= {sha for _, sha in profile_blobs(conn)}
        for tf in transforms.producing(conn, [s.id for s in found_snaps]):
            code = (tf.code or {}).get("sha256")
            if isinstance(code, str):
                pinned.add(code)
        collected = tombstones.subjects(conn)
    items_v = []
    for vid, label, name, created_at, t in found_versions:
        art = t["artifact"]
        blobs = [art["sha256"], *tree_blobs(ledger, art["sha256"], art["kind"], sizes)]
        sizes.setdefault(art["sha256"], int(art.get("size") or 0))
        code = t.get("code") or {}
        blobs += [b for b in (t.get("lock_sha256"), code.get("diff_sha256")) if b]
        links = [("parent", t["parent"])] if t.get("parent") else []
        links += [("base", t["base_model"])] if t.get("base_model") else []
        links += [("data", d["id"]) for d in t.get("data") or []]
        links += [("rollback", rollback[vid])] if vid in rollback else []
        items_v.append(Item(vid, "version", label, name, created_at, tuple(blobs), tuple(links)))
    items_s = []
    for s in found_snaps:
        blobs = [s.tree_sha256, *tree_blobs(ledger, s.tree_sha256, "tree", sizes)]
        items_s.append(
            Item(s.id, "snapshot", s.name, s.name, parse_time(s.created_at), tuple(blobs))
        )
    facts = Facts(items_v, items_s, ever, eval_sets, pinned, collected, now or datetime.now(UTC))
    return facts, sizes


def _version(vid: str, name: str, number: int, created_at: str, tuple_json: str) -> tuple[Any, ...]:
    return vid, f"{name}@{number}", name, parse_time(created_at), orjson.loads(tuple_json)


def tree_blobs(ledger: Ledger, sha: str, kind: str, sizes: dict[str, int]) -> list[str]:
    """The files a tree lists (its bytes checked against ``sha`` first), without building a
    ``Tree``: a million entries are read for their addresses and sizes only."""
    if kind != "tree":
        return []
    try:
        data = ledger.blobs.get(sha)
    except MledgerError:
        return []  # collected, or lost (fsck names that): nothing more to find here
    if hashlib.sha256(data).hexdigest() != sha:
        return []  # damaged: fsck names it; its files are not trusted to be what it says
    entries = orjson.loads(data)["entries"]
    for _, file_sha, size, _ in entries:
        sizes.setdefault(file_sha, size)
    return [e[1] for e in entries]


def policy_payload(policy: RetentionPolicy) -> dict[str, Any]:
    return {"policy": policy.document, "sha256": policy.sha256}
