"""`mledger data erase`: a deletion request carried out (S15).

Erased by snapshot, a snapshot's files and listing leave the store; erased by record
(``--record COL=VALUE``, found as ``data affected`` finds it), the files holding the record
leave it. Bytes go whatever the retention policy or grace period says, from loose objects and
packs alike. Records never go: each erased snapshot gets a ``data.erased`` event (who, why,
the legal basis, what left, the models trained on it and where they serve), written before the
bytes are removed. The value asked for is not written anywhere: the event holds its sha256.

Content addressing means the same bytes may be named by another snapshot; that one loses them
too, so it is erased as well and says why. Reported, not erased: snapshots derived from erased
ones (a transform may have removed the record), and snapshots made after the request that
still hold the record (what a pipeline that was not told is doing).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from modelledger.blobs import removal, repack
from modelledger.core.errors import InvalidInput
from modelledger.ledger import events, tombstones
from modelledger.ledger.home import Ledger, now
from modelledger.retention.facts import tree_blobs


@dataclass(frozen=True)
class Request:
    snapshots: list[str] = field(default_factory=list)  # refs, or none with a record
    record: str | None = None  # COLUMN=VALUE
    within: list[str] = field(default_factory=list)  # only scan these for the record
    reason: str = ""
    basis: str = ""
    requested_on: str | None = None  # YYYY-MM-DD: when the person asked

    def check(self) -> None:
        if self.snapshots and self.record is not None:
            raise InvalidInput("give the snapshots to erase, or --record COLUMN=VALUE, not both")
        if not self.snapshots and self.record is None:
            raise InvalidInput("name the snapshots to erase, or give --record COLUMN=VALUE")
        if self.within and self.record is None:
            raise InvalidInput("--in narrows a --record scan")
        for what, text in (("--reason", self.reason), ("--basis", self.basis)):
            if not text.strip():
                raise InvalidInput(f"{what} is required: an erasure records why, and under what")
        if self.requested_on is not None:
            from datetime import date

            try:
                date.fromisoformat(self.requested_on)
            except ValueError:
                raise InvalidInput(
                    f"--requested-on {self.requested_on!r}: expected a date, e.g. 2026-11-30"
                ) from None


def plan_erasure(ledger: Ledger, req: Request) -> dict[str, Any]:
    """What an erasure would remove and whom it touches, changing nothing."""
    from modelledger.data.resolve import resolve_snapshot
    from modelledger.data.store import snapshots
    from modelledger.impact.affected import parse_record, record_hits
    from modelledger.impact.lineage import downstream, models_using
    from modelledger.models.store import versions
    from modelledger.releases import store as environments

    req.check()
    with ledger.db.read() as conn:
        sizes: dict[str, int] = {}
        listings = _listings(ledger, snapshots.listing(conn, None, limit=None), sizes)
        targets: dict[str, dict[str, Any]] = {}
        if req.record is not None:
            column, value = parse_record(req.record)
            scope = [resolve_snapshot(conn, r) for r in req.within] or None
            for sid, hits in record_hits(ledger, conn, column, value, scope).items():
                targets[sid] = {
                    "why": f"holds the record ({sum(n for *_, n in hits)} row(s))",
                    "blobs": sorted({sha for _, sha, _ in hits}),
                }
        else:
            for ref in req.snapshots:
                sid = resolve_snapshot(conn, ref)
                tree, entries = listings.get(sid, ("", set()))
                blobs = sorted({*entries, tree} - {""})
                targets[sid] = {"why": "named by the request", "blobs": blobs, "tree": tree}
        gone = {b for t in targets.values() for b in t["blobs"]}
        for sid, (tree, entries) in listings.items():  # the same bytes, named elsewhere
            if sid not in targets and gone & {*entries, tree}:
                shared = sorted(gone & {*entries, tree})
                first = next(t for t, v in targets.items() if set(v["blobs"]) & set(shared))
                targets[sid] = {"why": f"shares erased bytes with {first}", "blobs": shared}
        created = {s.id: (s.name, s.created_at) for s in snapshots.get_many(conn, set(targets))}
        for sid, t in targets.items():  # what each erasure flags for retraining
            used = {m["version"] for m in models_using(conn, [sid])}
            t["retrain"] = sorted(used | versions.descendants(conn, used))
        direct = {m["version"] for m in models_using(conn, targets)}
        later = versions.descendants(conn, direct) - direct
        labels = {v.id: v.label for v in versions.get_many(conn, direct | later)}
        serving = [
            {"env": e.name, "id": e.current_id, "label": labels.get(e.current_id)}
            for e in environments.names(conn)
            if e.current_id is not None and e.current_id in direct | later
        ]
        _, derived = downstream(conn, targets)
        derived_names = {s.id: s.name for s in snapshots.get_many(conn, derived - set(targets))}
        done_before = {e["subject"] for e in tombstones.erasures(conn)}
    for sid, t in targets.items():
        t.update(
            id=sid,
            name=created[sid][0],
            created_at=created[sid][1],
            bytes=sum(sizes.get(b, 0) for b in t["blobs"]),
            erased_before=sid in done_before,
        )
    models = [
        {
            "id": v,
            "label": labels.get(v),
            "why": "trained on erased data"
            if v in direct
            else "descends from a version trained on erased data",
        }
        for v in sorted(direct | later, key=lambda v: labels.get(v) or v)
    ]
    after = [
        t["id"]
        for t in targets.values()
        if req.requested_on is not None and str(t["created_at"])[:10] > req.requested_on
    ]
    return {
        "request": _request_payload(req),
        "snapshots": sorted(targets.values(), key=lambda t: str(t["created_at"])),
        "models": models,
        "serving": serving,
        "made_after_request": after,
        "derived": [{"id": i, "name": n} for i, n in sorted(derived_names.items())],
        "bytes": sum(sizes.get(b, 0) for b in gone),
    }


def erase(ledger: Ledger, req: Request) -> dict[str, Any]:
    """Carry the erasure out: the events first, then the bytes (a run killed in between is
    finished by running it again: the events say what must go)."""
    plan = plan_erasure(ledger, req)
    if not plan["snapshots"]:
        raise InvalidInput(
            "nothing to erase: no snapshot holds the record"
            if req.record is not None
            else "nothing to erase"
        )
    with ledger.db.write() as conn:
        at = now()
        for t in plan["snapshots"]:
            payload = {
                **plan["request"],
                "why": t["why"],
                "blobs": t["blobs"],
                "bytes": t["bytes"],
                "retrain": t["retrain"],
                "serving": plan["serving"],
            }
            events.append(conn, tombstones.ERASED, t["id"], ledger.user, at, payload)
    freed = 0
    store, dead = ledger.blobs, {b for t in plan["snapshots"] for b in t["blobs"]}
    # a listing goes last: an erasure killed midway is finished by running it again, which
    # finds what is left through the listing
    trees = {t["tree"] for t in plan["snapshots"] if t.get("tree")} & dead
    packed = store.packs.held(dead) if store.local else set()
    for sha in dead - trees:
        freed += removal.erase(store, sha)  # loose copies (of packed objects too)
    done = repack.drop_from_packs(store, packed, None, time.time())
    for sha in trees - packed:
        freed += removal.erase(store, sha)
    return {**plan, "erased": True, "freed_bytes": freed + done.freed}


def _listings(
    ledger: Ledger, snaps: list[Any], sizes: dict[str, int]
) -> dict[str, tuple[str, set[str]]]:
    """Each snapshot's tree and the files it lists, "" and none for a listing no longer in the
    store (collected, erased, or damaged: nothing of it is left to remove)."""
    out: dict[str, tuple[str, set[str]]] = {}
    for s in snaps:
        files = tree_blobs(ledger, s.tree_sha256, "tree", sizes)
        there = bool(files) or ledger.blobs.has(s.tree_sha256)
        out[s.id] = (s.tree_sha256, set(files)) if there else ("", set())
    return out


def _request_payload(req: Request) -> dict[str, Any]:
    out: dict[str, Any] = {"reason": req.reason, "basis": req.basis}
    if req.requested_on is not None:
        out["requested_on"] = req.requested_on
    if req.record is not None:
        column, _, value = req.record.partition("=")
        out["record"] = {
            "column": column.strip(),
            "value_sha256": hashlib.sha256(value.strip().encode()).hexdigest(),
        }
    return out
