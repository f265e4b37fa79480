"""Where the benchmarks find the peers they compare against: an executable named by an
environment variable, else the one ``make bench-peers`` installed under .peers/."""

from __future__ import annotations

import os
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
