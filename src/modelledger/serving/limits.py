"""What ``POST /predict`` refuses before a handler sees the body: too big, too deep, not JSON, or
holding a number JSON cannot write back.

- Size: the body is read chunk by chunk and refused (413) as soon as it passes the limit, so an
  oversized upload costs at most the limit plus one chunk of memory, never its whole size.
- Depth: Python's json recurses once per nesting level, so a deep enough body ends in a
  RecursionError (or worse) instead of a 422. The depth is measured first on the bytes, with no
  recursion, and a body deeper than the limit is refused before it is parsed.
- Values with no JSON form: Python's json reads ``NaN``, ``Infinity`` and overflowing literals
  such as ``1e400`` as floats, and a ``"\\ud800"`` escape as a string UTF-8 cannot hold; such a
  value could be scored but neither answered nor logged, so it is refused, naming where it sits
  (``features.amount``, ``instances[3].features.x``). The body itself must be UTF-8, as JSON
  over HTTP is (RFC 8259).

Refusals are :class:`~modelledger.serving.features.BadRequest` with field ``body`` (or the path
of the value), like every other 422.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from modelledger.core.errors import InvalidInput, MledgerError
from modelledger.serving.features import BadRequest

MiB = 1024 * 1024

# The depth scan keeps quotes and brackets (braces become brackets: only the depth counts).
_OPEN, _QUOTE = ord("["), ord('"')
_BRACKETS = bytes(range(256)).replace(b"{", b"[").replace(b"}", b"]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
# Digits read as 0 and E as e, so an overflowing float literal is found by plain substring search.
_NUMBER_SHAPE = bytes(48 if 48 <= b <= 57 else 101 if b == 69 else b for b in range(256))
# an escape that json.loads turns into half of a UTF-16 pair, alone unless its other half follows
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


class TooLarge(MledgerError):
    """The body is larger than the server accepts (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes, the most this server accepts")
        self.limit = limit


@dataclass(frozen=True)
class Limits:
    """The bounds ``mledger serve`` puts on a request; the CLI fills them in."""

    max_body_bytes: int = 16 * MiB
    max_depth: int = 64
    max_instances: int = 10_000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value) is not int or value < 1:
                raise InvalidInput(f"{f.name} must be a positive integer, got {value!r}")


class BodySource(Protocol):
    """What :func:`read_body` needs of a request (a Starlette ``Request`` is one)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def stream(self) -> AsyncIterator[bytes]: ...


async def read_body(request: BodySource, limit: int) -> bytes:
    """The request's body, or TooLarge as soon as more than ``limit`` bytes arrived (at once when
    Content-Length already says so). Holds at most ``limit`` bytes plus the chunk that passed it."""
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.isascii()
        and declared.strip().isdigit()
        and int(declared) > limit
    ):
        raise TooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(limit)
        if chunk:
            chunks.append(chunk)
    return b"".join(chunks)


def _deeper_than(body: bytes, limit: int) -> bool:
    """Whether arrays and objects in ``body`` (UTF-8, where no byte of a multi-byte character is
    a quote, bracket or backslash) nest more than ``limit`` deep, brackets in strings not counted.
    No recursion and no parsing; in malformed JSON, unclosed brackets count."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # too few brackets to be that deep, whatever the strings hold
    if b"\\" in body:  # pair escaped backslashes first, then drop escaped quotes
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Only quotes and brackets are left. Dropping two adjacent quotes keeps every bracket on its
    # side of the strings (they bounded a string, or a gap between two, with no bracket in it),
    # so what remains is the structure's brackets plus quotes around brackets inside strings.
    marks = body.translate(_BRACKETS, _NOT_STRUCTURE).replace(b'""', b"")
    depth = 0
    in_string = False
    for b in marks:
        if b == _QUOTE:
            in_string = not in_string
        elif in_string:
            continue
        elif b == _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _may_overflow(body: bytes) -> bool:
    """Whether a float literal in ``body`` could exceed a double (largest below 1.8e308): only
    one with a 3-digit exponent or a run of digits long enough can. Strings may trip this too;
    it only decides whether the slower check of every float is needed."""
    shape = body.translate(_NUMBER_SHAPE)
    return b"e000" in shape or b"e+000" in shape or b"0" * 200 in shape


class _NonFinite:
    """Stands in, while parsing, for a number that has no JSON form."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_LONE = "a lone UTF-16 surrogate (a \\ud800 escape), which UTF-8 cannot store"


def _shown(key: str) -> str:
    # a key holding a lone surrogate is named with it escaped, so the refusal itself is UTF-8
    return key if key.isascii() else key.encode("utf-8", "backslashreplace").decode("utf-8")


def _path(parent: str, step: str | int) -> str:
    if type(step) is int:
        return f"{parent or 'body'}[{step}]"
    return f"{parent}.{_shown(str(step))}" if parent else _shown(str(step))


def _not_utf8(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _first_bad(value: Any, surrogates: bool) -> tuple[str, str] | None:
    """Where the first value with no JSON form sits, in document order, and what it is: a
    non-finite number's stand-in or (when ``surrogates``) a string or key that is not UTF-8.
    Iterative: the depth was bounded, but no recursion is needed either."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, v = stack.pop()
        t = type(v)
        if t is _NonFinite:
            return where or "body", f"{v.text} is not a finite number; JSON has no NaN or Infinity"
        if t is dict:
            for k in v:
                if surrogates and _not_utf8(k):
                    return _path(where, k), f"the key holds {_LONE}"
            stack.extend((_path(where, k), v[k]) for k in reversed(v))
        elif t is list:
            stack.extend((_path(where, i), v[i]) for i in range(len(v) - 1, -1, -1))
        elif t is str and surrogates and _not_utf8(v):
            return where or "body", f"the string holds {_LONE}"
    return None


def parse_body(body: bytes, max_depth: int = 64) -> Any:
    """The body as JSON (UTF-8), or BadRequest: field ``body`` when it is not JSON or nests
    deeper than ``max_depth``; the value's path (``features.amount``, ``instances[3].features.x``,
    ``features.v[2]``) for NaN, Infinity, a literal that overflows to ±inf, or a string with a
    lone surrogate: values that could be scored but neither answered nor logged."""
    if _deeper_than(body, max_depth):
        raise BadRequest(
            "body", f"the body nests arrays and objects deeper than {max_depth} levels"
        )
    found: list[_NonFinite] = []

    def constant(text: str) -> _NonFinite:
        stand_in = _NonFinite(text)
        found.append(stand_in)
        return stand_in

    def number(text: str) -> float | _NonFinite:
        value = float(text)
        if math.isfinite(value):
            return value
        return constant(text)

    try:
        text = body.decode("utf-8-sig")
        payload = json.loads(
            text, parse_constant=constant, parse_float=number if _may_overflow(body) else None
        )
    except RecursionError:  # the scan above makes this unreachable; kept as the last guard
        raise BadRequest("body", "the body nests arrays and objects too deeply") from None
    except UnicodeDecodeError as exc:
        raise BadRequest(
            "body", f"the body is not UTF-8 JSON: {exc.reason} at byte {exc.start}"
        ) from None
    except ValueError as exc:  # JSONDecodeError, or an integer of too many digits
        # one line, without the int limit's advice to the server's own code after the ';'
        detail = str(exc) if isinstance(exc, json.JSONDecodeError) else str(exc).split(";")[0]
        raise BadRequest("body", f"the body is not JSON: {detail}") from None
    surrogates = _SURROGATE.search(body) is not None
    if found or surrogates:
        bad = _first_bad(payload, surrogates)
        if bad is None and found:  # a repeated key overwrote it: refused all the same
            bad = "body", f"{found[0].text} is not a finite number; JSON has no NaN or Infinity"
        if bad is not None:
            field, what = bad
            raise BadRequest(
                field,
                f"{field}: {what}, so it could be neither answered nor logged",
            )
    return payload
