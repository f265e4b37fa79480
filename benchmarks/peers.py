"""Where the benchmarks find the peers they compare against: an executable named by an
environment variable, else the one ``make bench-peers`` installed under .peers/."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def find_peer(variable: str, installed: str) -> tuple[Path | None, str]:
    """The executable and how it was found, or None and why not. ``installed`` is its path
    under .peers/ (``dvc/bin/dvc``)."""
    env = os.environ.get(variable)
    if env:
        path = Path(env)
        if os.access(path, os.X_OK):
            return path, f"{path} ({variable})"
        return None, f"{variable}={env} is not an executable"
    path = ROOT / ".peers" / installed
    if os.access(path, os.X_OK):
        return path, str(path.relative_to(ROOT))
    folder = installed.split("/", 1)[0]
    return None, f"not installed (`make bench-peers` puts it in .peers/{folder})"


def mlflow_command(script: str) -> tuple[list[str] | None, str]:
    """How to run the peer script ``script`` (in benchmarks/): in this interpreter when it
    imports mlflow, else with $MLEDGER_BENCH_MLFLOW or .peers/mlflow's python; None and why
    not otherwise."""
    path = str(Path(__file__).with_name(script))
    if importlib.util.find_spec("mlflow") is not None:
        return [sys.executable, path], "this virtualenv"
    python, how = find_peer("MLEDGER_BENCH_MLFLOW", "mlflow/bin/python")
    return ([str(python), path] if python is not None else None), how
