"""A training script run by `mledger reproduce` is told so by its environment: ``ml.run`` then
takes the recorded code and seed, and ``register_model`` and ``record_eval`` write what they
would have recorded to the reproduction's notes instead of the ledger (the reproduction is
compared with the version, not added beside it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

NOTES = "MLEDGER_REPRODUCE_NOTES"  # a JSON-lines file the script's calls append to
VERSION = "MLEDGER_REPRODUCE_VERSION"  # the version being reproduced
SEED = "MLEDGER_SEED"  # the recorded seed


def active() -> str | None:
    """The id of the version being reproduced, when this process is a reproduction's run."""
    return os.environ.get(VERSION) or None


def seed() -> int | None:
    text = os.environ.get(SEED)
    return int(text) if text and text.lstrip("-").isdigit() else None


def note(kind: str, payload: dict[str, Any]) -> None:
    with open(os.environ[NOTES], "a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, **payload}) + "\n")


def read_notes(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
