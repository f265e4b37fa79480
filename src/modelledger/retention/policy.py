"""The retention policy: a YAML mapping, versioned by its sha256 like a gate policy. Pure.

    keep_experiments_for: 30d   # a version that never served anywhere, older than this: eligible
    keep_snapshots_for: 30d     # a snapshot no kept version trained on, not an eval set: likewise
    grace: 1h                   # bytes written (or reused) more recently are never collected
    overrides:                  # per model or dataset name (shell patterns), first match wins
      churn: {keep_experiments_for: 90d}
      scratch-*: {keep_experiments_for: 0d}

What is kept forever is not configurable (``plan.py``): whatever ever served an environment,
its immediate parents and base models, rollback targets, eval sets, the data kept versions
trained on, and every record.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from modelledger.core.canonical import canonical_json, sha256_hex
from modelledger.core.errors import InvalidInput
from modelledger.core.stats import parse_duration

DEFAULT: dict[str, Any] = {
    "keep_experiments_for": "30d",
    "keep_snapshots_for": "30d",
    "grace": "1h",
}
_WINDOWS = ("keep_experiments_for", "keep_snapshots_for")
_KNOWN = (*_WINDOWS, "grace", "overrides")


@dataclass(frozen=True)
class RetentionPolicy:
    experiments: timedelta
    snapshots: timedelta
    grace: timedelta
    overrides: tuple[tuple[str, dict[str, timedelta]], ...]
    document: dict[str, Any]  # as given (defaults filled): what the sha256 is of

    @property
    def sha256(self) -> str:
        return sha256_hex(canonical_json(self.document))

    def experiments_for(self, name: str) -> timedelta:
        return self._window(name, "keep_experiments_for", self.experiments)

    def snapshots_for(self, name: str) -> timedelta:
        return self._window(name, "keep_snapshots_for", self.snapshots)

    def _window(self, name: str, key: str, default: timedelta) -> timedelta:
        for pattern, windows in self.overrides:
            if fnmatch.fnmatchcase(name, pattern):
                return windows.get(key, default)
        return default


def parse_policy(data: Any) -> RetentionPolicy:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput("retention policy: expected a mapping, e.g. keep_experiments_for: 30d")
    unknown = sorted(set(data) - set(_KNOWN))
    if unknown:
        raise InvalidInput(
            f"retention policy: unknown key {unknown[0]!r} (known: {', '.join(_KNOWN)})"
        )
    document = {**DEFAULT, **{k: v for k, v in data.items() if k != "overrides"}}
    windows = {k: _duration(document[k], k) for k in (*_WINDOWS, "grace")}
    overrides: list[tuple[str, dict[str, timedelta]]] = []
    given = data.get("overrides") or {}
    if not isinstance(given, dict):
        raise InvalidInput("retention policy: overrides: a mapping of name pattern → windows")
    for pattern, rule in given.items():
        if not isinstance(rule, dict) or not rule or set(rule) - set(_WINDOWS):
            raise InvalidInput(
                f"retention policy: overrides.{pattern}: give keep_experiments_for and/or "
                "keep_snapshots_for"
            )
        overrides.append(
            (str(pattern), {k: _duration(v, f"overrides.{pattern}.{k}") for k, v in rule.items()})
        )
    if given:
        document["overrides"] = {str(k): dict(v) for k, v in given.items()}
    return RetentionPolicy(
        windows["keep_experiments_for"], windows["keep_snapshots_for"], windows["grace"],
        tuple(overrides), document,
    )  # fmt: skip


def _duration(value: Any, key: str) -> timedelta:
    text = str(value).strip()
    if text in ("0", "0d", "0h", "0m", "0s"):
        return timedelta(0)
    return parse_duration(text, f"retention policy: {key}")
