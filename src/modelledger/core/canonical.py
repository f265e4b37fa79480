"""Canonical JSON: the one serialisation every identity in modelledger is computed from.

UTF-8, sorted keys, no insignificant whitespace, no NaN/Infinity. JSON has a single number type,
so numbers are canonicalised by value: an integral float is written as the integer it equals
(``1.0`` and ``1`` are the same hyperparameter; ``-0.0`` is ``0``), other floats in Python's
shortest round-trip repr. Equal values therefore give equal bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from modelledger.core.errors import InvalidInput


def _normalise(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{path or 'value'}: NaN and Infinity have no canonical JSON form")
        if value.is_integer():
            return int(value)
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{path or 'value'}: object keys must be strings, got {key!r}")
            out[key] = _normalise(item, f"{path}.{key}" if path else key)
        return out
    if isinstance(value, list | tuple):
        return [_normalise(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise InvalidInput(f"{path or 'value'}: {type(value).__name__} is not JSON-serialisable")


class _NotCanonical(Exception):
    """Raised by ``_quick``; ``_normalise`` then runs again to say where."""


_SCALAR = frozenset({str, int, bool, type(None)})  # exact types: kept as they are


def _quick(value: Any) -> Any:
    """``_normalise`` without building a path for every item (only an error needs one): this
    runs on every registration and event."""
    kind = type(value)
    if kind in _SCALAR:
        return value
    if kind is float:
        if value.is_integer():
            return int(value)
        if not math.isfinite(value):
            raise _NotCanonical
        return value
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotCanonical
            out[key] = _quick(item)
        return out
    if kind is list or kind is tuple:
        return [_quick(item) for item in value]
    raise _NotCanonical  # subclasses, other mappings and sequences: the careful path


def canonical_value(value: Any) -> Any:
    """The value as canonical JSON would read back (numbers normalised, tuples as lists)."""
    try:
        try:
            return _quick(value)
        except _NotCanonical:
            return _normalise(value, "")
    except RecursionError:  # a value of the Python API's making; files and options are bounded
        raise InvalidInput("value: nested too deeply for canonical JSON") from None


# one encoder for every call: ``json.dumps`` with options builds a new one each time
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 bytes of a JSON-compatible value."""
    normal = canonical_value(value)
    try:
        return _ENCODER.encode(normal).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: from a "\\ud800" escape or a file name
        bad = exc.object[exc.start : exc.end]
        raise InvalidInput(
            f"value: text that is not valid Unicode ({exc.reason}: {bad!r})"
        ) from None
    except ValueError as exc:  # an integer beyond Python's limit for writing it as text
        said = str(exc).split("; use sys.")[0]
        raise InvalidInput(f"value: cannot be written as JSON ({said})") from None
    except RecursionError:
        raise InvalidInput("value: nested too deeply for canonical JSON") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """sha256 hex of the canonical JSON of ``value``."""
    return sha256_hex(canonical_json(value))
