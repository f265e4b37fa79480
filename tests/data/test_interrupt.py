"""Interrupted snapshots leave nothing behind: SIGTERM (what systemd, Kubernetes and CI send)
cleans up as Ctrl-C does; after ``kill -9``, which nothing can clean up after, ``mledger fsck``
names the leftover temp files and ``fsck --repair`` removes them. Real processes, on both
backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import jrun

MLEDGER = Path(sys.executable).with_name("mledger")


def big_tree(folder: Path) -> Path:
    """Files bound for a pack (spilled to its temp file as they come) and files stored loose
    (each through a temp file of its own): both kinds of temp file exist mid-snapshot."""
    for i in range(120):
        (folder / "packed").mkdir(parents=True, exist_ok=True)
        (folder / "packed" / f"{i}.bin").write_bytes(i.to_bytes(4, "big") * (128 << 10))
    for i in range(60):
        (folder / "loose").mkdir(parents=True, exist_ok=True)
        (folder / "loose" / f"{i}.bin").write_bytes((i + 1000).to_bytes(4, "big") * (512 << 10))
    return folder


def temps(blobs: Path) -> list[Path]:
    return [
        p for d in ("sha256", "packs") if (blobs / d).is_dir() for p in (blobs / d).glob(".tmp-*")
    ]


def snapshot_until_mid_write(project: Path, tree: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}
    env["MLEDGER_USER"] = "carol"
    proc = subprocess.Popen(
        [str(MLEDGER), "data", "snapshot", str(tree), "--name", "big"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    blobs = project / ".mledger" / "blobs"
    deadline = time.monotonic() + 30
    while len(temps(blobs)) < 3:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the snapshot never got mid-write: {proc.communicate()}")
        time.sleep(0.002)
    return proc


def test_sigterm_mid_snapshot_cleans_up_like_ctrl_c(ledger_cli, project, tmp_path):
    proc = snapshot_until_mid_write(project, big_tree(tmp_path / "tree"))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM, err  # cleaned up, then ended by the signal
    blobs = project / ".mledger" / "blobs"
    assert temps(blobs) == []
    assert list((blobs / "writers").iterdir()) == []  # its writer claim let go too
    report = jrun(ledger_cli, "fsck")
    assert report["ok"] and report["temp_files_in_use"] == 0
    assert jrun(ledger_cli, "data", "list") == []  # nothing recorded


def test_kill_9_mid_snapshot_leaves_temps_that_fsck_names_and_repairs(
    ledger_cli, project, tmp_path
):
    proc = snapshot_until_mid_write(project, big_tree(tmp_path / "tree"))
    proc.kill()
    proc.communicate(timeout=30)  # (reads and closes its pipes)
    blobs = project / ".mledger" / "blobs"
    left = temps(blobs)
    assert left, "kill -9 left nothing: the test did not interrupt a write"
    report = jrun(ledger_cli, "fsck", code=1)
    named = {d["target"] for d in report["damage"] if d["kind"] == "leftover-temp"}
    assert {str(p) for p in left} <= named
    repaired = jrun(ledger_cli, "fsck", "--repair")
    assert repaired["ok"] and set(repaired["removed"]) == named
    assert temps(blobs) == [] and list((blobs / "writers").iterdir()) == []
    assert jrun(ledger_cli, "fsck")["ok"]
