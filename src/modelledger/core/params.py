"""Hyperparameters given as ``key=value`` pairs on a command line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from modelledger.core.canonical import canonical_value
from modelledger.core.errors import InvalidInput
from modelledger.core.parsing import loads_json


def parse_value(text: str, what: str = "value") -> Any:
    """JSON when it parses (``0.1``, ``64``, ``true``, ``[1,2]``), otherwise the string itself;
    JSON beyond the bounds of ``core.parsing`` (too deep, too long an integer) is refused."""
    try:
        return loads_json(text, what)
    except json.JSONDecodeError:
        return text


def parse_pairs(pairs: Iterable[str], option: str = "--param") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"{option} {pair!r}: expected KEY=VALUE")
        if key in out:
            raise InvalidInput(f"{option} {key!r} is given twice")
        out[key] = parse_value(raw, f"{option} {key!r}")
    return out


def merge_params(from_file: dict[str, Any], from_flags: dict[str, Any]) -> dict[str, Any]:
    """Flags override the file, key by key; the result is canonical (validated, numbers normalised)."""
    merged = {**from_file, **from_flags}
    value = canonical_value(merged)
    assert isinstance(value, dict)
    return value
