"""Removing objects from packs (gc and erasure): a pack cannot lose one object in place, so each
pack holding any object to remove is rewritten without it.

The survivors are copied (each checked against its hash) into a new pack, which is committed
first; then the old index is moved aside, the old pack's mtime is read again, and only then are
the old pack and its index removed. A writer that reuses a packed object freshens its pack
(``BlobStore.has_fresh``, ``missing``): if that happened since the first look, the old index is
put back and the copy dropped, as for a loose object (``removal.collect``). A reader that had
the old pack open finds it gone and looks again, finding the survivors in the new one. Killed at
any point, the store stays whole: an index left aside is put back by the next run
(``restore_aside``), and fsck counts it as the index it was until then.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass

from modelledger.blobs.durable import fsync_path
from modelledger.blobs.store import BlobStore

_ASIDE = re.compile(r"^(pack-[0-9a-f]{64}\.idx)\.gc-\d+$")


@dataclass
class Repacked:
    freed: int = 0  # bytes the store no longer holds
    removed: int = 0  # objects removed
    kept_back: int = 0  # objects to remove left in packs written or reused within the grace
    damaged: int = 0  # packs left alone because a survivor no longer matched its hash


def drop_from_packs(store: BlobStore, dead: set[str], grace: float | None, now: float) -> Repacked:
    """Rewrite every pack holding any of ``dead`` without them. ``grace`` None (erasure): the
    objects go whatever their age; otherwise a pack written or reused within ``grace`` seconds
    of ``now`` is left as it is."""
    done = Repacked()
    if not store.local or not dead:
        return done
    index = store.packs
    for idx, objects in index.listed():
        doomed = [o for o in objects if o[0] in dead]
        if not doomed:
            continue
        pack = idx.removesuffix(".idx") + ".pack"
        try:
            before = os.stat(pack)
        except FileNotFoundError:
            continue
        if grace is not None and now - before.st_mtime < grace:
            done.kept_back += len(doomed)
            continue
        sound, copy = _copy_survivors(store, pack, [o for o in objects if o[0] not in dead])
        if not sound:
            done.damaged += 1
            continue
        went = _retire(idx, pack, before, check=grace is not None)
        if went is True:
            done.freed += before.st_size - sum(o[2] for o in objects if o[0] not in dead)
            done.removed += len(doomed)
        elif went is False:
            done.kept_back += len(doomed)
            if copy:  # the old pack stays, so its copy is not needed
                _remove_pack(os.path.join(index.directory, copy))
        # None: another collector retired it; the copy (the same name as its own) must stay
    index.forget()
    return done


def _copy_survivors(
    store: BlobStore, pack: str, survivors: list[tuple[str, int, int]]
) -> tuple[bool, str | None]:
    """Whether the survivors were sound, and the new pack's name (None: no survivors). A pack
    whose survivor no longer hashes to its name is left for fsck to name, not rewritten around
    the damage."""
    if not survivors:
        return True, None
    writer = store.pack_writer()
    fd = os.open(pack, os.O_RDONLY)
    try:
        for sha, offset, size in survivors:
            data = os.pread(fd, size, offset)
            if hashlib.sha256(data).hexdigest() != sha:
                writer.discard()
                return False, None
            writer.add(sha, data)
    finally:
        os.close(fd)
    return True, writer.commit()


def _retire(idx: str, pack: str, before: os.stat_result, check: bool) -> bool | None:
    """Remove an old pack and its index, unless (``check``) it was freshened since ``before``:
    True when it went, False when it stays, None when another collector took it first."""
    aside = f"{idx}.gc-{os.getpid()}"
    try:
        os.rename(idx, aside)
    except FileNotFoundError:
        return None
    if check and os.stat(pack).st_mtime_ns != before.st_mtime_ns:
        _put_back(aside, idx)
        return False
    # the pack first: an index left without its pack is dropped by the next run, never used
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pack)
    os.unlink(aside)
    fsync_path(os.path.dirname(idx))
    return True


def _put_back(aside: str, idx: str) -> None:
    with contextlib.suppress(FileExistsError):
        os.link(aside, idx)
    os.unlink(aside)


def _remove_pack(stem: str) -> None:
    for ext in (".idx", ".pack"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(stem + ext)


def restore_aside(store: BlobStore) -> int:
    """Put back the pack indexes a run killed midway left aside (those whose pack is still
    there; one without its pack is dropped): how many were put back."""
    folder = os.path.join(store.root, "packs")
    if not store.local or not os.path.isdir(folder):
        return 0
    back = 0
    for name in os.listdir(folder):
        m = _ASIDE.match(name)
        if not m:
            continue
        aside, idx = os.path.join(folder, name), os.path.join(folder, m.group(1))
        if os.path.exists(idx.removesuffix(".idx") + ".pack"):
            _put_back(aside, idx)
            back += 1
        else:
            os.unlink(aside)
    store.packs.forget()
    return back
