"""Dataset snapshot speed against hashing + copying and against DVC (issue: Data snapshots).

Targets, all ratios of figures measured in the same run (absolute times do not carry across
machines); the variants are interleaved A B A B with fresh ledgers/repos, and medians compared:

- one 1 GiB file: `ml.snapshot(FILE)` in-process ≤ 1.3 × (sha256 with hashlib.file_digest +
  shutil.copyfile) of the same file; `mledger data snapshot FILE` (whole process) ≥ 3x faster
  than `dvc add FILE` in a fresh `dvc init --no-scm` repo.
- 20,000 × 1 KiB files in 100 folders: `mledger data snapshot DIR` ≥ 3x faster than
  `dvc add DIR`; the same command again on the unchanged folder ≥ 3x faster than `dvc status`.

DVC runs from its own virtualenv: `make bench-peers` installs .peers/dvc/bin/dvc (or set
MLEDGER_BENCH_DVC to a dvc executable); without it the DVC comparisons are skipped.

    python benchmarks/bench_snapshot.py [--size 1G] [--n-files 20000] [--repeat 3] [--only file|tree]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peers import find_peer

from modelledger import client as ml

API_VS_HASH_COPY_MAX = 1.3  # ours ≤ 1.3 × (sha256 + copy)
DVC_RATIO_MIN = 3.0  # ours ≥ 3x faster than dvc add / dvc status
FILE_SIZE = 1024  # bytes per file in the tree
PER_FOLDER = 200  # files per folder in the tree: 20,000 files → 100 folders
MLEDGER = Path(sys.executable).with_name("mledger")
MLEDGER_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}


class BenchError(Exception):
    """Our command failed: reported as FAIL, never as a traceback."""


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def parse_size(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1] if t and t[-1] in units else ""
    try:
        return int(float(t[: len(t) - len(unit)]) * units[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected bytes, e.g. 1G, 64M, 4096") from None


def human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} B"


def faster(ratio: float) -> str:
    """``ratio`` = theirs / ours."""
    return f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"


def spread(xs: list[float]) -> str:
    return (
        f"median {statistics.median(xs):.3f} s (min {min(xs):.3f}, max {max(xs):.3f}, n={len(xs)})"
    )


def settle() -> None:
    """Flush dirty pages between (untimed) steps so one variant's writeback never lands in
    another's timing."""
    os.sync()


def timed(
    cmd: list[str], cwd: Path, env: dict[str, str]
) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def tail(proc: subprocess.CompletedProcess[str]) -> str:
    text = (proc.stderr or proc.stdout or "").strip().splitlines()
    return " | ".join(text[-3:]) or "(no output)"


# -- ours -------------------------------------------------------------------------------------
def mledger_init(home: Path) -> None:
    home.mkdir(parents=True)
    proc = subprocess.run(
        [str(MLEDGER), "init"], cwd=home, env=MLEDGER_ENV, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise BenchError(f"mledger init failed (exit {proc.returncode}): {tail(proc)}")


def mledger_snapshot(home: Path, target: str, name: str) -> tuple[float, dict[str, object]]:
    """Whole-process `mledger data snapshot TARGET --name NAME --json`, run from the ledger."""
    cmd = [str(MLEDGER), "data", "snapshot", target, "--name", name, "--json"]
    seconds, proc = timed(cmd, home, MLEDGER_ENV)
    if proc.returncode != 0:
        raise BenchError(f"mledger data snapshot failed (exit {proc.returncode}): {tail(proc)}")
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise BenchError(
            f"mledger data snapshot --json printed no JSON: {proc.stdout[:200]!r}"
        ) from None
    if not str(out.get("id", "")).startswith("ds-"):
        raise BenchError(f"mledger data snapshot --json gave no ds- id: {proc.stdout[:200]!r}")
    return seconds, out


# -- dvc --------------------------------------------------------------------------------------
def find_dvc() -> tuple[Path | None, str]:
    """The dvc executable and how it was found, or None and why not."""
    return find_peer("MLEDGER_BENCH_DVC", "dvc/bin/dvc")


def dvc_version(dvc: Path) -> str:
    proc = subprocess.run([str(dvc), "--version"], capture_output=True, text=True)
    return proc.stdout.strip() or "?"


class DvcRepo:
    """A fresh `dvc init --no-scm` repo; its site cache (state db) lives inside it, so nothing
    carries over between repetitions and nothing is left in /var/tmp."""

    def __init__(self, dvc: Path, root: Path) -> None:
        self.dvc, self.root = dvc, root
        root.mkdir(parents=True)
        self.env = {
            **os.environ,
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(root / ".dvc-site-cache"),
        }
        self.run("init", "--no-scm", "-q")
        self.run("config", "core.analytics", "false")
        self.run("config", "core.check_update", "false")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.dvc), *args], cwd=self.root, env=self.env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"dvc {' '.join(args)} failed (exit {proc.returncode}): {tail(proc)}"
            )
        return proc

    def timed(self, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
        seconds, proc = timed([str(self.dvc), *args], self.root, self.env)
        if proc.returncode != 0:
            raise RuntimeError(
                f"dvc {' '.join(args)} failed (exit {proc.returncode}): {tail(proc)}"
            )
        return seconds, proc


# -- one large file ---------------------------------------------------------------------------
def bench_file(base: Path, size: int, repeat: int, dvc: Path | None) -> bool:
    big = base / "big.bin"
    with open(big, "wb") as f:
        left = size
        while left:
            n = min(left, 64 << 20)
            f.write(os.urandom(n))
            left -= n
    settle()
    api: list[float] = []
    sha: list[float] = []
    copy: list[float] = []
    cli: list[float] = []
    dvc_add: list[float] = []
    dvc_error = ""
    ids: set[str] = set()
    for i in range(repeat):
        # A: ours in-process, fresh ledger
        home = base / f"api-{i}"
        ledger = ml.init(home)
        t0 = time.perf_counter()
        snap = ml.snapshot(big, "big", ledger=ledger)
        api.append(time.perf_counter() - t0)
        ledger.close()
        ids.add(snap.id)
        shutil.rmtree(home)
        settle()
        # B: the floor, hashing then copying the same bytes
        t0 = time.perf_counter()
        with open(big, "rb") as f:
            hashlib.file_digest(f, "sha256")
        t1 = time.perf_counter()
        shutil.copyfile(big, base / "copy.bin")
        t2 = time.perf_counter()
        sha.append(t1 - t0)
        copy.append(t2 - t1)
        (base / "copy.bin").unlink()
        settle()
        # A': ours as a whole process, fresh ledger
        home = base / f"cli-{i}"
        mledger_init(home)
        settle()
        seconds, out = mledger_snapshot(home, str(big), "big")
        cli.append(seconds)
        ids.add(str(out["id"]))
        shutil.rmtree(home)
        settle()
        # B': dvc add of the same bytes, copied into a fresh repo before timing (dvc moves the
        # file it adds into its cache, so it gets its own copy)
        if dvc is not None and not dvc_error:
            repo_root = base / f"dvc-{i}"
            try:
                repo = DvcRepo(dvc, repo_root)
                shutil.copyfile(big, repo_root / "big.bin")
                settle()
                seconds, _ = repo.timed("add", "-q", "big.bin")
                dvc_add.append(seconds)
            except RuntimeError as exc:
                dvc_error = str(exc)
            shutil.rmtree(repo_root, ignore_errors=True)
            settle()
        print(
            f"  rep {i + 1}/{repeat}: api {api[-1]:.3f} s, sha256 {sha[-1]:.3f} s + copy {copy[-1]:.3f} s, "
            f"cli {cli[-1]:.3f} s" + (f", dvc add {dvc_add[-1]:.3f} s" if len(dvc_add) > i else "")
        )
    big.unlink()
    if len(ids) != 1:
        raise BenchError(f"the same bytes gave different snapshot ids: {sorted(ids)}")

    floor = [s + c for s, c in zip(sha, copy, strict=True)]
    ratio = statistics.median(api) / statistics.median(floor)
    ok = ratio <= API_VS_HASH_COPY_MAX
    gbs = size / statistics.median(sha) / 1e9
    print(
        f"baseline sha256 (hashlib.file_digest) of {human(size)}: {spread(sha)}  ({gbs:.2f} GB/s)"
    )
    print(f"baseline shutil.copyfile of {human(size)}: {spread(copy)}")
    print(f"ml.snapshot({human(size)} file), in-process, fresh ledger: {spread(api)}")
    print(
        f"  = {ratio:.2f} × (sha256 + copy = {statistics.median(floor):.3f} s)  "
        f"[target ≤ {API_VS_HASH_COPY_MAX} ×: {verdict(ok)}]"
    )
    print(f"mledger data snapshot FILE --json, whole process, fresh ledger: {spread(cli)}")
    if dvc is None:
        print("dvc: not available; `dvc add` comparison skipped")
    elif dvc_error:
        print(f"dvc: {dvc_error}; `dvc add` comparison skipped")
    else:
        print(f"dvc add FILE, whole process, fresh repo: {spread(dvc_add)}")
        r = statistics.median(dvc_add) / statistics.median(cli)
        ok_dvc = r >= DVC_RATIO_MIN
        ok = ok and ok_dvc
        print(
            f"  mledger (CLI) is {faster(r)} than dvc add  "
            f"[target ≥ {DVC_RATIO_MIN:.0f}x: {verdict(ok_dvc)}]"
        )
    return ok


# -- many small files -------------------------------------------------------------------------
def write_tree(root: Path, data: bytes, n: int, size: int) -> None:
    for j in range(n):
        folder = root / f"d{j // PER_FOLDER:04d}"
        if j % PER_FOLDER == 0:
            folder.mkdir(parents=True)
        (folder / f"f{j:06d}.bin").write_bytes(data[j * size : (j + 1) * size])


def bench_tree(base: Path, n: int, repeat: int, dvc: Path | None) -> bool:
    data = os.urandom(n * FILE_SIZE)  # every file distinct: no deduplication helps either side
    snap: list[float] = []
    resnap: list[float] = []
    dvc_add: list[float] = []
    dvc_status: list[float] = []
    dvc_error = ""
    ids: set[str] = set()
    for i in range(repeat):
        # A: ours, fresh ledger and a fresh copy of the tree inside the project
        home = base / f"ml-{i}"
        mledger_init(home)
        write_tree(home / "data", data, n, FILE_SIZE)
        settle()
        seconds, out = mledger_snapshot(home, "data", "tree")
        snap.append(seconds)
        if out.get("created") is False:
            raise BenchError("a fresh ledger reported the snapshot as already present")
        settle()
        seconds, again = mledger_snapshot(home, "data", "tree")
        resnap.append(seconds)
        if again.get("created") is True:
            raise BenchError("re-snapshot of unchanged bytes reported a new snapshot")
        if again["id"] != out["id"]:
            raise BenchError(f"unchanged folder, new id: {out['id']} then {again['id']}")
        if again.get("file_count", n) != n:
            raise BenchError(f"snapshot counted {again.get('file_count')} files, expected {n}")
        ids.add(str(out["id"]))
        shutil.rmtree(home)
        settle()
        # B: dvc add, then dvc status on the unchanged repo
        if dvc is not None and not dvc_error:
            repo_root = base / f"dvc-{i}"
            try:
                repo = DvcRepo(dvc, repo_root)
                write_tree(repo_root / "data", data, n, FILE_SIZE)
                settle()
                seconds, _ = repo.timed("add", "-q", "data")
                dvc_add.append(seconds)
                settle()
                seconds, status = repo.timed("status")
                dvc_status.append(seconds)
                if i == 0:
                    print(f"  dvc status says: {status.stdout.strip() or '(nothing)'}")
            except RuntimeError as exc:
                dvc_error = str(exc)
            shutil.rmtree(repo_root, ignore_errors=True)
            settle()
        print(
            f"  rep {i + 1}/{repeat}: snapshot {snap[-1]:.3f} s, re-snapshot {resnap[-1]:.3f} s"
            + (
                f", dvc add {dvc_add[-1]:.3f} s, dvc status {dvc_status[-1]:.3f} s"
                if len(dvc_status) > i
                else ""
            )
        )
    if len(ids) != 1:
        raise BenchError(f"the same bytes gave different snapshot ids: {sorted(ids)}")

    what = f"{n:,} × {human(FILE_SIZE)} in {-(-n // PER_FOLDER)} folders"
    print(f"mledger data snapshot DIR ({what}), whole process, fresh ledger: {spread(snap)}")
    print(f"mledger data snapshot DIR again, unchanged: {spread(resnap)}")
    if dvc is None:
        print("dvc: not available; `dvc add` / `dvc status` comparisons skipped")
        return True
    if dvc_error:
        print(f"dvc: {dvc_error}; `dvc add` / `dvc status` comparisons skipped")
        return True
    print(f"dvc add DIR, whole process, fresh repo: {spread(dvc_add)}")
    print(f"dvc status, unchanged repo: {spread(dvc_status)}")
    r_add = statistics.median(dvc_add) / statistics.median(snap)
    r_status = statistics.median(dvc_status) / statistics.median(resnap)
    ok_add, ok_status = r_add >= DVC_RATIO_MIN, r_status >= DVC_RATIO_MIN
    print(
        f"  snapshot: mledger is {faster(r_add)} than dvc add  "
        f"[target ≥ {DVC_RATIO_MIN:.0f}x: {verdict(ok_add)}]"
    )
    print(
        f"  re-snapshot unchanged: mledger is {faster(r_status)} than dvc status  "
        f"[target ≥ {DVC_RATIO_MIN:.0f}x: {verdict(ok_status)}]"
    )
    return ok_add and ok_status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=1 << 30, help="large file (default 1G)")
    parser.add_argument("--n-files", type=int, default=20_000, help="files in the tree")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each variant")
    parser.add_argument("--only", choices=["file", "tree"], help="run one of the two cases")
    args = parser.parse_args()
    if args.repeat < 1 or args.n_files < 1 or args.size < 1:
        parser.error("--size, --n-files and --repeat must be positive")

    dvc, how = find_dvc()
    print(f"dvc: {how}" + (f", version {dvc_version(dvc)}" if dvc else ""))
    # peak use: the file, our blob of it, and dvc's cache plus workspace copy; the tree likewise,
    # at 4 KiB a block
    need = max(args.size * 4, args.n_files * 4096 * 4) + (512 << 20)
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < need:
        print(
            f"FAIL: {human(free)} free in {tempfile.gettempdir()}, the benchmark needs {human(need)}"
        )
        return 1
    ok = True
    try:
        with tempfile.TemporaryDirectory(prefix="mledger-bench-snapshot-") as tmp:
            if args.only in (None, "file"):
                print(f"== one {human(args.size)} file, {args.repeat} repetitions")
                ok = bench_file(Path(tmp), args.size, args.repeat, dvc) and ok
            if args.only in (None, "tree"):
                print(f"== {args.n_files:,} × {human(FILE_SIZE)} files, {args.repeat} repetitions")
                ok = bench_tree(Path(tmp), args.n_files, args.repeat, dvc) and ok
    except BenchError as exc:
        print(f"FAIL: {exc}")
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
