"""`mledger gc` killed with SIGKILL at random moments, on SQLite and PostgreSQL: after every kill
the store passes `fsck` and the ledger `audit verify`, and a last run collects what is left, so
gc is resumable and nothing kept is ever touched."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import jrun, write
from tests.people import approved

EXE = Path(sys.executable).with_name("mledger")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}
    return {**env, "MLEDGER_USER": "alice"}


# gc with every unlink and rename slowed down, so that a kill lands inside its removals rather
# than after them (the code run is the real one; only the system calls take longer)
SLOWED = (
    "import os, sys, time\n"
    "for name in ('unlink', 'rename'):\n"
    "    real = getattr(os, name)\n"
    "    setattr(os, name, lambda *a, _r=real, **k: (time.sleep(0.01), _r(*a, **k))[1])\n"
    "sys.argv = ['mledger', 'gc', '--json']\n"
    "from modelledger.cli.app import main\n"
    "main()\n"
)


def _gc(project: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", SLOWED],
        cwd=project,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_gc_killed_anywhere_leaves_a_whole_store_and_finishes_later(ledger_cli, project, ledger):
    cli = ledger_cli
    keep = jrun(
        cli,
        "model",
        "register",
        "churn",
        "--artifact",
        str(write(project / "k.bin", "k" * 9000)),
        "--code-ref",
        "r",
    )["id"]
    cli("env", "create", "production")
    approved(ledger, keep, "production", project=project)
    doomed = []
    for n in range(20):  # loose artifacts, eligible
        art = write(project / "m" / f"{n}.bin", os.urandom(64 << 10))
        doomed.append(
            jrun(cli, "model", "register", "exp", "--artifact", str(art), "--code-ref", "r")["id"]
        )
    for s in range(2):  # snapshots of small files, each its own pack, eligible
        folder = project / f"s{s}"
        for i in range(150):
            write(folder / f"{i}.csv", f"x\n{s}-{i}\n" * 30)
        jrun(cli, "data", "snapshot", str(folder), "--name", f"scratch{s}")
    write(project / "p.yaml", "keep_experiments_for: 0d\nkeep_snapshots_for: 0d\ngrace: 0d\n")
    cli("gc", "policy", str(project / "p.yaml"))

    took = []
    for _ in range(2):  # the second is warm (the first may compile bytecode)
        started = time.perf_counter()
        dry = [str(EXE), "gc", "--dry-run", "--json"]
        subprocess.run(dry, cwd=project, env=_env(), check=True, stdout=subprocess.DEVNULL)
        took.append(time.perf_counter() - started)
    whole = min(took)  # about what one run takes, start-up included
    art = ledger.blobs.path(jrun(cli, "model", "show", doomed[0])["tuple"]["artifact"]["sha256"])
    blobs = project / ".mledger" / "blobs"
    rng = random.Random(20261204)
    moments = [  # when to kill, and what must be left behind then
        ("inside a pack's rewrite", lambda: any(blobs.glob("packs/*.idx.gc-*"))),
        ("inside a loose removal", lambda: not os.path.exists(art)),
        ("at a random time", None),
    ]
    for what, moment in moments:
        proc = _gc(project)
        wait = (rng.uniform(0.3, 0.8) if moment is None else 20) * whole
        deadline = time.perf_counter() + wait
        while proc.poll() is None and time.perf_counter() < deadline:
            if moment is not None and moment():
                break
            time.sleep(0.0002)
        assert proc.poll() is None, f"gc ended before it could be killed {what}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if moment is not None:
            assert list(blobs.rglob("*.gc-*")), f"killed {what}, yet nothing was left aside"
        assert jrun(cli, "fsck")["ok"], f"gc killed {what} left damage"
        assert jrun(cli, "audit", "verify")["ok"]

    subprocess.run(
        [str(EXE), "gc", "--json"], cwd=project, env=_env(), check=True, stdout=subprocess.DEVNULL
    )
    shown = {v: jrun(cli, "model", "show", v)["tuple"]["artifact"]["sha256"] for v in doomed}
    assert not any(ledger.blobs.has(sha) for sha in shown.values())
    assert list((project / ".mledger" / "blobs" / "packs").glob("*.pack")) == []
    assert not list((project / ".mledger" / "blobs").rglob("*.gc-*"))
    assert jrun(cli, "model", "verify", keep)["ok"] and jrun(cli, "fsck")["ok"]
    again = jrun(cli, "gc")
    assert again["collected"] == [] and again["freed_bytes"] == 0
