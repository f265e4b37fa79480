"""Tiny importable models and factories for the loader tests (``python:tests.models.fake_models:…``)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


class Scaler:
    """Predicts ``factor * x`` for each feature dict; picklable because it lives in a module."""

    def __init__(self, factor: float = 2.0) -> None:
        self.factor = factor

    def predict(self, rows: list[dict[str, Any]]) -> list[float]:
        return [self.factor * row["x"] for row in rows]


class ProbaOnly:
    def predict_proba(self, rows: list[dict[str, Any]]) -> list[list[float]]:
        return [[0.5, 0.5] for _ in rows]


class Inert:
    """No predict, no predict_proba, not callable."""


def make_scaler(path: Path) -> Scaler:
    """Factory: the artifact is a file holding ``{"factor": …}`` or a folder with ``params.json``."""
    path = Path(path)
    source = path / "params.json" if path.is_dir() else path
    return Scaler(json.loads(source.read_text())["factor"])


def make_function(path: Path) -> Any:
    """Factory returning a plain callable."""
    return lambda rows: [len(rows)] * len(rows)


def make_inert(path: Path) -> Inert:
    return Inert()


def make_noisy(path: Path) -> Scaler:
    """Prints to stdout (Python level and file descriptor level) while loading."""
    print("loading… {not json")
    sys.stdout.flush()
    import os

    os.write(1, b'{"ok": false, "error": "forged"}\n')
    return Scaler(3.0)


def make_slow(path: Path) -> Scaler:
    time.sleep(60)
    return Scaler()


def make_crash(path: Path) -> Scaler:
    import os

    sys.stderr.write("about to die\nsegfault-ish: going down hard\n")
    sys.stderr.flush()
    os._exit(3)


def make_broken(path: Path) -> Scaler:
    raise ValueError("weights file\nis truncated")


not_callable = 42
