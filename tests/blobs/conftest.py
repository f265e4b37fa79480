"""A ledger with something in every part of its store, for fsck and the tamper suite: a snapshot
of many small files (one pack) and a large one (loose), and a registered model (loose)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelledger.blobs.store import BlobStore
from tests.conftest import jrun, write

SMALL_FILES = 120  # over ingest.PACK_MIN: they go into one pack
BIG = 2 << 20  # over ingest.PACKED_MAX: stored loose


@dataclass
class Stocked:
    cli: Any
    project: Path
    store: BlobStore
    snapshot: dict[str, Any]
    big_sha: str  # a loose object the snapshot names
    small_sha: str  # a packed object the snapshot names
    artifact_sha: str  # a loose object a model version names

    @property
    def root(self) -> Path:
        return Path(self.store.root)

    def loose(self, sha: str) -> Path:
        return Path(self.store.path(sha))

    def packs(self, ext: str) -> list[Path]:
        return sorted((self.root / "packs").glob(f"pack-*.{ext}"))

    def fsck(self, *args: str, code: int = 0) -> dict[str, Any]:
        return jrun(self.cli, "fsck", *args, code=code)

    def damage(self, *args: str) -> list[tuple[str, str]]:
        """(kind, target) of each damage fsck names; fsck must exit 1."""
        found = self.fsck(*args, code=1)["damage"]
        assert found, "fsck exited 1 naming no damage"
        return [(d["kind"], d["target"]) for d in found]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def writable(path: Path) -> Path:
    os.chmod(path, 0o644)  # stored objects are read-only
    return path


@pytest.fixture
def stocked(ledger_cli, project) -> Stocked:
    data = project / "night"
    for i in range(SMALL_FILES):
        write(data / "events" / f"part-{i:03}.csv", f"user,event\n{i},click\n")
    big = bytes(range(256)) * (BIG // 256)
    write(data / "big.bin", big)
    snap = jrun(ledger_cli, "data", "snapshot", str(data), "--name", "interactions")
    art = write(project / "model.bin", b"weights v1")
    jrun(ledger_cli, "model", "register", "churn", "-a", str(art), "--code-ref", "x@1")
    store = BlobStore(str(project / ".mledger" / "blobs"))
    stocked = Stocked(
        ledger_cli,
        project,
        store,
        snap,
        sha(big),
        sha(b"user,event\n7,click\n"),
        sha(b"weights v1"),
    )
    assert stocked.loose(stocked.big_sha).exists()
    assert not stocked.loose(stocked.small_sha).exists()  # packed
    assert len(stocked.packs("idx")) == 1
    return stocked
