"""`fsck` speed against single-core sha256 over the same bytes (issue 18: a ledger that proves
itself).

Target: `fsck` of a store (10 GiB in the issue; 1 GiB by default) re-hashes at ≥ 80 % of the
throughput of `hashlib.sha256` on one core, measured in the same run over the same stored bytes
(absolute speeds do not carry across machines). The store mixes what real ones hold: large
loose objects (model artifacts, big data files), mid-size loose ones, and packs of many small
files. Both sides read warm from the page cache (the store is built and read once untimed) and
are interleaved A B A B; medians are compared.

    python benchmarks/bench_fsck.py [--gib 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from modelledger.blobs.fsck import fsck
from modelledger.blobs.store import BlobStore

TARGET = 0.80  # fsck ≥ 80 % of single-core sha256 throughput
READ = 8 << 20
# Shares of the store's bytes, and each share's object sizes
LARGE = (0.50, 256 << 20)  # half the bytes in 256 MiB loose objects
MEDIUM = (0.25, 8 << 20)  # a quarter in 8 MiB loose objects
SMALL = (0.25, 16 << 10)  # a quarter in 16 KiB objects, packed
PACK_BYTES = 256 << 20  # packed bytes per pack


def build(root: Path, total: int) -> BlobStore:
    store = BlobStore(str(root))
    rng = random.Random(18)
    for share, size in (LARGE, MEDIUM):
        for _ in range(max(1, int(total * share) // size)):
            store.put_bytes(b"".join(rng.randbytes(1 << 20) for _ in range(size >> 20)))
    left = int(total * SMALL[0]) // SMALL[1]
    while left > 0:
        writer = store.pack_writer()
        for _ in range(min(left, PACK_BYTES // SMALL[1])):
            data = rng.randbytes(SMALL[1])
            writer.add(hashlib.sha256(data).hexdigest(), data)
            left -= 1
        writer.commit()
    return store


def stored_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".") and "writers" not in p.parts
    )


def reference(files: list[Path]) -> tuple[float, int]:
    """sha256 of every stored byte on one core: each file read in large chunks and hashed (a
    pack hashed whole: the same bytes, one object)."""
    buf = bytearray(READ)
    view = memoryview(buf)
    total = 0
    t0 = time.perf_counter()
    for path in files:
        h = hashlib.sha256()
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
                total += n
    return time.perf_counter() - t0, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="store size in GiB (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each side")
    parser.add_argument("--dir", type=Path, default=None, help="where to build the store")
    args = parser.parse_args()
    total = int(args.gib * (1 << 30))
    if total < SMALL[1] * 100 or args.repeat < 1:
        parser.error("--gib must be at least a few MiB and --repeat positive")
    base = args.dir or Path(tempfile.gettempdir())
    if shutil.disk_usage(base).free < total * 1.2 + (256 << 20):
        print(f"FAIL: not enough free space in {base} for a {args.gib:g} GiB store")
        return 1
    with tempfile.TemporaryDirectory(prefix="mledger-bench-fsck-", dir=base) as tmp:
        root = Path(tmp) / "blobs"
        t0 = time.perf_counter()
        store = build(root, total)
        files = stored_files(root)
        print(
            f"store: {sum(p.stat().st_size for p in files) / (1 << 30):.2f} GiB in {len(files)} "
            f"files ({len(list((root / 'packs').glob('*.pack')))} packs), built in "
            f"{time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPUs"
        )
        reference(files)  # untimed: both sides then read from the page cache
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(args.repeat):
            seconds, hashed = reference(files)
            theirs.append(hashed / seconds)
            report = fsck(store, [])
            if not report.ok:
                print(f"FAIL: fsck found damage in a fresh store: {report.damage[:3]}")
                return 1
            ours.append(report.bytes / report.seconds)
        mine, ref = statistics.median(ours), statistics.median(theirs)
        ratio = mine / ref
        mib = 1 << 20
        print(
            f"single-core hashlib.sha256 over the same bytes: median {ref / mib:,.0f} MiB/s "
            f"(min {min(theirs) / mib:,.0f}, max {max(theirs) / mib:,.0f}, n={len(theirs)})"
        )
        print(
            f"fsck ({report.objects:,} objects, {report.bytes / (1 << 30):.2f} GiB): median "
            f"{mine / mib:,.0f} MiB/s (min {min(ours) / mib:,.0f}, max {max(ours) / mib:,.0f})"
        )
        verdict = "PASS" if ratio >= TARGET else "FAIL"
        print(f"fsck at {ratio:.0%} of single-core sha256  [target ≥ {TARGET:.0%}: {verdict}]")
        return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
