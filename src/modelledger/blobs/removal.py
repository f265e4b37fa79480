"""Removing objects from a store for gc (``retention.collect``), safely against writers that
reuse them: a writer freshens what it reuses (``BlobStore.has_fresh``); gc skips an object
written or reused within the grace period, moves it aside before removing it, and checks its
mtime again, so a writer that freshened it meanwhile keeps it and one that comes after finds it
gone and stores its own copy. An object left aside by a run killed midway is put back by the
next (``restore_aside``); ``fsck`` counts it as that object until then."""

from __future__ import annotations

import contextlib
import os

from modelledger.blobs.store import REMOTE_REUSE, BlobStore

# gc's least grace on an object store: writers there reuse only objects younger than half this
REMOTE_GRACE = 2 * REMOTE_REUSE


def stale(store: BlobStore, sha256: str, grace: float, now: float) -> bool:
    """Whether ``collect`` would take the object now: loose, and neither written nor reused
    within ``grace`` seconds of ``now``."""
    age = _age(store, sha256, now)
    return age is not None and age >= (grace if store.local else max(grace, REMOTE_GRACE))


def collect(store: BlobStore, sha256: str, grace: float, now: float) -> int:
    """Remove the loose object unless it was written or reused within ``grace`` seconds of
    ``now``: the bytes freed (0 when kept, packed or absent). On an object store, by age alone
    (it has no atomic rename), and never younger than ``REMOTE_GRACE``: a writer there reuses
    only what is younger than half that, and uploads anything older again."""
    path = store.path(sha256)
    if not store.local:
        age = _age(store, sha256, now)
        if age is None or age < max(grace, REMOTE_GRACE):
            return 0
        size = int(store.fs.info(path).get("size") or 0)
        store.fs.rm(path)
        return size
    try:
        before = os.stat(path)
    except FileNotFoundError:
        return 0
    if now - before.st_mtime < grace:
        return 0
    aside = f"{path}.gc-{os.getpid()}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return 0
    after = os.stat(aside)
    if after.st_mtime_ns != before.st_mtime_ns:  # freshened between the two looks
        with contextlib.suppress(FileExistsError):  # (unless a new copy is there already)
            os.link(aside, path)
        os.unlink(aside)
        return 0
    os.unlink(aside)  # (not synced: a removal lost to a power cut only leaves bytes behind)
    return after.st_size


def erase(store: BlobStore, sha256: str) -> int:
    """Remove the loose object whatever its age (a deletion request): the bytes freed. A writer
    that reuses it meanwhile names bytes that are gone; ``fsck`` says so."""
    path = store.path(sha256)
    try:
        if not store.local:
            size = int(store.fs.info(path).get("size") or 0)
            store.fs.rm(path)
            return size
        size = os.stat(path).st_size
        os.unlink(path)
    except FileNotFoundError:
        return 0
    return size


def restore_aside(store: BlobStore) -> int:
    """Put back the objects a gc stopped midway (kill -9) left moved aside, unless a copy is in
    place again: how many were put back. The next gc decides on them afresh."""
    if not store.local:
        return 0
    base, back = os.path.join(store.root, "sha256"), 0
    try:
        fans = os.listdir(base)
    except FileNotFoundError:
        return 0
    for fan in fans:
        folder = os.path.join(base, fan)
        if len(fan) != 2 or not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            stem, dot, tail = name.partition(".gc-")
            if not dot or not tail.isdigit():
                continue
            aside, path = os.path.join(folder, name), os.path.join(folder, stem)
            try:
                os.link(aside, path)
                back += 1
            except FileExistsError:
                pass
            os.unlink(aside)
    return back


def _age(store: BlobStore, sha256: str, now: float) -> float | None:
    """Seconds since the object was written or reused; None when it is not loose here."""
    if not store.local:
        return store.remote_age(sha256)
    try:
        return now - os.stat(store.path(sha256)).st_mtime
    except FileNotFoundError:
        return None
