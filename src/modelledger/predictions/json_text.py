"""The JSON text of the inference log: the canonical text of an input and its sha256 (equal
inputs, equal hashes), the stored text of an output, and JSONL lines read as records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from modelledger.core.canonical import canonical_json
from modelledger.core.errors import InvalidInput

_ENCODE = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _fast_encoder() -> Callable[[Any], str]:
    """``_ENCODE`` without its per-call set-up: ``JSONEncoder.encode`` builds a new C encoder on
    every call, which is half the cost of encoding a small object. Checked against ``_ENCODE``
    once; any surprise (another interpreter, another signature) keeps the plain encoder."""
    from json import encoder as stdlib

    make = getattr(stdlib, "c_make_encoder", None)
    if make is None:
        return _ENCODE
    try:
        c_encode = make(None, _refuse, stdlib.encode_basestring, None, ":", ",", True, False, False)

        def encode(value: Any) -> str:
            return "".join(c_encode(value, 0))

        probe = {"b": [1.5, "é\n", None, True], "a": {"z": -2, "y": 0.1}}
        if encode(probe) != _ENCODE(probe) or encode("x") != '"x"':
            return _ENCODE
    except Exception:
        return _ENCODE
    return encode


# Sorted, compact JSON, refusing NaN and Infinity. Not canonical (2.0 stays 2.0): callers use it
# where the shape makes it so (``canonical_text``, a batch's features) or no identity is at stake
# (``output_json``).
compact_json: Callable[[Any], str] = _fast_encoder()


_SORTED = orjson.OPT_SORT_KEYS


def flat_json(value: dict[Any, Any], floats: tuple[Any, ...], canonical: bool) -> str | None:
    """``compact_json`` of a flat object by orjson (several times faster), or None where the two
    could differ. The caller vouches that every value is exactly a str, int, float, bool or None
    (orjson also writes types ``compact_json`` refuses) and names the keys of the floats: orjson
    writes a float as Python's repr does only from 1e-4 to 1e16 and zero (below, 0.00001 and 1e-7
    for repr's 1e-05 and 1e-07; NaN and Infinity as null). ``canonical``: None for an integral
    float too, which canonical JSON writes as an integer. orjson refuses non-string keys, integers
    past 64 bits and lone surrogates."""
    for key in floats:
        x = abs(value[key])
        if canonical:
            if not 1e-4 <= x < 1e16 or x.is_integer():
                return None
        elif not (1e-4 <= x < 1e16 or x == 0.0):
            return None
    try:
        return orjson.dumps(value, option=_SORTED).decode()
    except orjson.JSONEncodeError:
        return None


def canonical_text(value: Any) -> str:
    """``canonical_json(value)`` as text, with a fast path for the common shapes (a scalar, or a
    flat object of strings, integers, booleans, nulls and non-integral floats): those are
    already canonical under ``json.dumps(sort_keys=True)``. Everything else takes the full path."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            t = type(item)
            if type(key) is not str:
                break
            if t is float:
                if item.is_integer():
                    break
            elif t is not str and t is not int and t is not bool and item is not None:
                break
        else:
            try:
                return compact_json(value)
            except (ValueError, RecursionError):
                pass  # NaN or Infinity: the full path names the field
    elif kind is str or kind is int or kind is bool or value is None:
        return compact_json(value)
    elif kind is float and not value.is_integer():
        try:
            return compact_json(value)
        except ValueError:
            pass
    return canonical_json(value).decode("utf-8")


def output_json(value: Any) -> str:
    """A stored output: sorted, compact JSON. Not an identity, so numbers are kept as given
    (``2.0`` stays ``2.0``); NaN, Infinity and non-JSON values are refused like anywhere else."""
    try:
        return compact_json(value)
    except (TypeError, ValueError, RecursionError):
        return canonical_json(value).decode("utf-8")  # raises InvalidInput naming the field


def utf8_text(text: str) -> str:
    """The text, refused (ValueError) when it cannot be stored as UTF-8 (a lone surrogate, which
    ``json.loads`` makes of a ``"\\ud800"`` escape)."""
    if not text.isascii():
        text.encode("utf-8")
    return text


def text_sha256(text: str) -> str:
    try:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"not valid UTF-8 text: {exc.reason}") from None


def input_sha256(value: Any) -> str:
    """The sha256 of the canonical JSON of a request's input: equal inputs, equal hashes."""
    return text_sha256(canonical_text(value))


def parse_json_line(text: str | bytes) -> Any:
    """One JSONL line as a value; InvalidInput saying what is wrong with it."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidInput("malformed JSON (nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidInput(f"malformed JSON ({reason})") from None


def iter_jsonl(lines: Iterable[bytes]) -> Iterable[tuple[int, bytes]]:
    """(line number, line) for the non-blank lines."""
    for number, line in enumerate(lines, 1):
        if line.strip():
            yield number, line


@dataclass(frozen=True)
class BadLine:
    """A line or row that is not a record at all (malformed JSON, an unconvertible value)."""

    message: str


def jsonl_records(lines: Iterable[bytes]) -> Iterator[tuple[int, Any]]:
    """(line number, record) for the non-blank lines; a line that is not JSON as a BadLine."""
    for number, line in iter_jsonl(lines):
        try:
            yield number, parse_json_line(line)
        except InvalidInput as exc:
            yield number, BadLine(str(exc))
