"""Checking a whole blob store against its own addresses and against what the ledger names.

Every loose and packed object is re-hashed; pack indexes and the packs they describe are
checked; every blob a record names (and, for a tree listing, every file it lists) must be in the
store with the size recorded. Objects no record names are counted as orphans, never deleted
here (a writer commits its bytes before its record, so some may be about to be named). Temp
files left by writers that are gone (``writers.py`` tells them from ones still being written)
are damage, removed by ``repair``.

Kinds of damage: ``corrupt-object`` (bytes that no longer hash to their name), ``unreadable``,
``missing-object`` (named by a record, not in the store), ``size-mismatch``, ``bad-tree`` (a
named tree blob that is no tree listing), ``tree-mismatch`` (a listing that disagrees with its
record), ``damaged-index``, ``index-without-pack``, ``pack-without-index``, ``pack-layout``,
``truncated-pack``, ``unexpected-file``, ``leftover-temp``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from modelledger.blobs import writers
from modelledger.blobs.inventory import Hashed, Inventory, rehash, take_inventory
from modelledger.blobs.store import BlobStore
from modelledger.blobs.tree import Tree

# A temp file whose writer cannot be told (named by an older release, or by hand) is left
# alone this long after its last change: it may still be being written.
UNKNOWN_WRITER_GRACE_S = 3600
_NAMES_SHOWN = 3  # records named in a damage's detail; more are counted


@dataclass(frozen=True)
class Named:
    """A record naming a blob. ``listing``: for a tree blob, the (files, bytes) the record says
    it lists, so its entries are checked too."""

    sha256: str
    by: str  # what names it, e.g. "snapshot ds-…" or "mv-… artifact"
    size: int | None = None  # the blob's size, when the record knows it
    listing: tuple[int | None, int | None] | None = None


@dataclass(frozen=True)
class Damage:
    kind: str
    target: str  # the object's sha256, or a path in the store
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "target": self.target, "detail": self.detail}


@dataclass
class Report:
    objects: int = 0  # distinct objects stored
    copies: int = 0  # loose files plus packed entries
    packs: int = 0
    bytes: int = 0  # re-hashed
    seconds: float = 0.0
    named: int = 0  # distinct objects that records name
    orphans: int = 0
    orphan_bytes: int = 0
    writing: int = 0  # temp files of writers still at work: left alone
    removed: list[str] = field(default_factory=list)  # temp files removed by repair
    damage: list[Damage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damage

    def summary(self) -> str:
        rate = self.bytes / self.seconds / (1 << 20) if self.seconds > 0 else 0.0
        text = (
            f"{self.objects:,} objects ({self.bytes:,} bytes, {self.packs} packs) re-hashed "
            f"at {rate:,.0f} MiB/s; {self.named:,} named by records, {self.orphans:,} orphans"
        )
        if self.removed:
            text += f"; removed {len(self.removed)} leftover temp files"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "objects": self.objects,
            "copies": self.copies,
            "packs": self.packs,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "named": self.named,
            "orphans": {"count": self.orphans, "bytes": self.orphan_bytes},
            "temp_files_in_use": self.writing,
            "removed": self.removed,
            "damage": [d.to_json() for d in self.damage],
        }


@dataclass(frozen=True)
class Progress:
    total: Callable[[int], None] = lambda n: None
    advance: Callable[[int], None] = lambda n: None


def fsck(
    store: BlobStore,
    named: Iterable[Named],
    repair: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
) -> Report:
    progress = progress or Progress()
    started = time.perf_counter()
    report = Report()
    found = take_inventory(store)
    report.damage += [Damage(p.kind, p.path, p.detail) for p in found.problems]
    progress.total(found.size)
    stored: dict[str, int] = {}  # sha256 → size, of a sound copy
    bad: dict[str, list[str]] = {}  # sha256 → what is wrong with its copies
    for hashed in rehash(store, found, progress.advance, workers or os.cpu_count() or 1):
        report.copies += 1
        report.bytes += hashed.copy.size
        if hashed.sound:
            stored[hashed.copy.sha256] = hashed.copy.size
        else:
            bad.setdefault(hashed.copy.sha256, []).append(_what_is_wrong(hashed))
    report.packs = len(found.packed)
    present = stored.keys() | bad.keys()
    report.objects = len(present)
    names = _check_named(store, named, stored, bad, report)
    report.named = len(names.keys() & present)
    for sha, problems in sorted(bad.items()):
        kind = (
            "unreadable" if all(p.startswith("unreadable") for p in problems) else "corrupt-object"
        )
        report.damage.append(Damage(kind, sha, "; ".join(problems) + _named_by(names.get(sha))))
    orphans = present - names.keys()
    report.orphans = len(orphans)
    report.orphan_bytes = sum(stored.get(sha, 0) for sha in orphans)
    _temps(store, found, repair, report)
    report.seconds = time.perf_counter() - started
    order = {kind: i for i, kind in enumerate(_ORDER)}
    report.damage.sort(key=lambda d: (order.get(d.kind, len(order)), d.target))
    return report


_ORDER = (
    "corrupt-object",
    "unreadable",
    "missing-object",
    "size-mismatch",
    "bad-tree",
    "tree-mismatch",
    "damaged-index",
    "index-without-pack",
    "pack-without-index",
    "truncated-pack",
    "pack-layout",
    "unexpected-file",
    "leftover-temp",
)


def _what_is_wrong(hashed: Hashed) -> str:
    where = (
        "loose"
        if hashed.copy.offset is None
        else f"in {os.path.basename(hashed.copy.path)} at byte {hashed.copy.offset:,}"
    )
    if hashed.actual is None:
        return f"{hashed.error} ({where})"
    return f"its {hashed.copy.size:,} bytes ({where}) hash to {hashed.actual}"


def _named_by(names: list[str] | None) -> str:
    if not names:
        return "; no record names it"
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else ""
    return f"; named by {shown}{more}"


def _check_named(
    store: BlobStore,
    named: Iterable[Named],
    stored: dict[str, int],
    bad: dict[str, list[str]],
    report: Report,
) -> dict[str, list[str]]:
    """What names each object (tree listings followed), with the damage found on the way."""
    names: dict[str, list[str]] = {}
    sizes: set[tuple[str, int]] = set()  # (sha256, size) claims already checked
    listed: set[str] = set()  # tree listings read already
    todo = list(named)
    while todo:
        n = todo.pop()
        names.setdefault(n.sha256, []).append(n.by)
        size = stored.get(n.sha256)
        if size is None:
            continue  # missing or corrupt: reported below, once, with what names it
        if n.size is not None and n.size != size and (n.sha256, n.size) not in sizes:
            sizes.add((n.sha256, n.size))
            report.damage.append(
                Damage(
                    "size-mismatch",
                    n.sha256,
                    f"{n.by} says {n.size:,} bytes; the stored object holds {size:,}",
                )
            )
        if n.listing is not None and n.sha256 not in listed:  # named twice, read once
            listed.add(n.sha256)
            todo += _entries(store, n, report)
    for sha in sorted(names.keys() - stored.keys() - bad.keys()):
        report.damage.append(
            Damage("missing-object", sha, "not in the store" + _named_by(names[sha]))
        )
    return names


def _entries(store: BlobStore, n: Named, report: Report) -> list[Named]:
    try:
        tree = Tree.from_json(json.loads(store.get(n.sha256)))
    except Exception as exc:  # any failure to read a listing is what is being reported
        report.damage.append(Damage("bad-tree", n.sha256, f"named by {n.by}: not a tree ({exc})"))
        return []
    assert n.listing is not None
    files, size = n.listing
    if (files is not None and files != len(tree.entries)) or (
        size is not None and size != tree.size
    ):
        report.damage.append(
            Damage(
                "tree-mismatch",
                n.sha256,
                f"{n.by} records {files} files, {size:,} bytes; its tree lists "
                f"{len(tree.entries)} files, {tree.size:,} bytes"
                if files is not None and size is not None
                else f"{n.by} disagrees with its tree ({len(tree.entries)} files)",
            )
        )
    return [Named(e.sha256, f"{n.by} file {e.path}", e.size) for e in tree.entries]


def _temps(store: BlobStore, found: Inventory, repair: bool, report: Report) -> None:
    """Temp files of writers that are gone are damage (removed by ``repair``); those of writers
    still at work are left alone and counted."""
    if not store.local:
        return
    now = time.time()
    alive: dict[str, bool] = {}
    for path in found.temps:
        token = writers.token_of(os.path.basename(path))
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue  # committed or dropped since the listing
        if token is not None:
            if token not in alive:
                alive[token] = writers.alive(store.root, token)
            in_use = alive[token]
        else:
            in_use = now - st.st_mtime < UNKNOWN_WRITER_GRACE_S
        if in_use:
            report.writing += 1
        elif repair:
            try:
                os.unlink(path)
                report.removed.append(path)
            except FileNotFoundError:
                pass
        else:
            whose = "a writer that is gone" if token else "no known writer, unchanged for an hour"
            report.damage.append(
                Damage(
                    "leftover-temp",
                    path,
                    f"{st.st_size:,} bytes left by {whose}; `mledger fsck --repair` removes it",
                )
            )
    if repair:
        for token in writers.lock_files(store.root):
            if not (alive[token] if token in alive else writers.alive(store.root, token)):
                writers.forget(store.root, token)
