"""The body limits of ``POST /predict``: size read in chunks, depth measured before parsing, and
values with no JSON form refused with the path of the value."""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from modelledger.core.errors import InvalidInput
from modelledger.serving.features import BadRequest
from modelledger.serving.limits import Limits, MiB, TooLarge, parse_body, read_body

finite_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)

# strings made of what could confuse a byte-level scan
tricky_text = st.text(alphabet=st.sampled_from('[]{}"\\:,ab \n\u00e9'), max_size=12)
tricky_json = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4)
    ),
    max_leaves=40,
)


def depth(value: Any) -> int:
    """Nesting depth of arrays and objects (a scalar 0, ``[]`` 1), iteratively."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            d += 1
            deepest = max(deepest, d)
            stack.extend((c, d) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def refusal(body: bytes, **kw: Any) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse_body(body, **kw)
    return info.value


# -- parsing ----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(finite_json, st.booleans())
def test_any_finite_json_round_trips(value, ascii_only):
    assume(depth(value) <= 64)
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=False)
    parsed = parse_body(text.encode("utf-8"))
    assert json.dumps(parsed, allow_nan=False) == json.dumps(value, allow_nan=False)


@settings(max_examples=500, deadline=None)
@given(tricky_json, st.integers(min_value=1, max_value=6), st.booleans())
def test_the_depth_scan_agrees_with_the_parsed_depth(value, limit, ascii_only):
    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
    if depth(value) > limit:
        assert refusal(body, max_depth=limit).field == "body"
    else:
        assert parse_body(body, max_depth=limit) == value


def test_finite_extremes_stay_valid():
    body = b'{"features": {"big": 1e308, "small": -1.7976931348623157e308, "tiny": 1e-400}}'
    assert parse_body(body) == {
        "features": {"big": 1e308, "small": -1.7976931348623157e308, "tiny": 0.0}
    }
    long_digits = "1" * 250
    assert parse_body(f'{{"n": {long_digits}}}'.encode()) == {"n": int(long_digits)}
    assert parse_body(b'{"s": "e400 and 1e999 are only text"}') == {
        "s": "e400 and 1e999 are only text"
    }


@pytest.mark.parametrize(
    ("body", "field", "token"),
    [
        ('{"features": {"amount": NaN}}', "features.amount", "NaN"),
        ('{"features": {"amount": Infinity}}', "features.amount", "Infinity"),
        ('{"features": {"amount": -Infinity}}', "features.amount", "-Infinity"),
        ('{"features": {"amount": 1e400}}', "features.amount", "1e400"),
        ('{"features": {"amount": -1e400}}', "features.amount", "-1e400"),
        ('{"features": {"amount": 1E+0400}}', "features.amount", "1E+0400"),
        ('{"features": {"amount": ' + "9" * 320 + ".5}}", "features.amount", "9" * 320 + ".5"),
        ('{"features": {"v": [1, 2, NaN]}}', "features.v[2]", "NaN"),
        ('{"features": {"v": [[0], [1, {"w": Infinity}]]}}', "features.v[1][1].w", "Infinity"),
        (
            '{"instances": [{"features": {"x": 1}}, {"features": {"x": 2}}, {"features": {"x": 3}},'
            ' {"features": {"x": 1e400}}]}',
            "instances[3].features.x",
            "1e400",
        ),
        ('{"request_id": "r", "features": {"a": 1, "b": NaN, "c": Infinity}}', "features.b", "NaN"),
        ("NaN", "body", "NaN"),
        ("[1, -Infinity]", "body[1]", "-Infinity"),
        (
            '{"a": NaN, "a": 1}',
            "body",
            "NaN",
        ),  # overwritten by a repeated key: refused all the same
    ],
)
def test_non_finite_numbers_are_refused_naming_their_path(body, field, token):
    exc = refusal(body.encode())
    assert exc.field == field
    assert str(exc).startswith(f"{field}: {token} is not a finite number")


def test_the_first_non_finite_value_in_document_order_is_named():
    body = b'{"instances": [{"features": {"a": 1, "b": [2, NaN]}}, {"features": {"a": NaN}}]}'
    assert refusal(body).field == "instances[0].features.b[1]"


def test_lone_surrogates_are_refused_but_pairs_are_text():
    assert parse_body(b'{"features": {"s": "\\ud83d\\ude00"}}') == {"features": {"s": "\U0001f600"}}
    exc = refusal(b'{"features": {"s": "\\ud800"}}')
    assert exc.field == "features.s"
    exc = refusal(b'{"features": {"\\udc00k": 1}}')
    assert exc.field == "features.\\udc00k"
    str(exc).encode("utf-8")  # the refusal itself can be sent


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"{'a': 1}",
        b'{"a": 1} x',
        b"\xff\xfe",
        '{"a": "é"}'.encode("utf-16"),
        b"1" * 5000,
    ],
)
def test_non_json_is_refused_in_one_line(body):
    exc = refusal(body)
    assert exc.field == "body"
    assert str(exc).startswith("the body is not")
    assert "\n" not in str(exc)
    assert "set_int_max_str_digits" not in str(exc)


def test_a_utf8_byte_order_mark_is_allowed():
    assert parse_body(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


# -- depth ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b"[" * 100_000,  # never closed
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b'{"features": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    ],
)
def test_a_very_deep_body_is_refused_at_once(body):
    started = time.perf_counter()
    exc = refusal(body)
    assert time.perf_counter() - started < 2
    assert exc.field == "body"
    assert "deeper than 64" in str(exc)


def test_the_depth_limit_is_exact():
    assert parse_body(b"[" * 64 + b"]" * 64) is not None
    assert refusal(b"[" * 65 + b"]" * 65).field == "body"
    assert parse_body(b'{"a": [[1]]}', max_depth=3) == {"a": [[1]]}
    assert refusal(b'{"a": [[1]]}', max_depth=2).field == "body"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 70,  # opening brackets inside a string
        "]" * 70,  # closing ones, which must not hide the real depth either
        '\\"' + "[" * 70,  # an escaped quote does not end the string
        "\\\\",  # an escaped backslash does not escape the closing quote
        '\\\\\\"]]]]',
        '{"not": "an object"}',
    ],
)
def test_brackets_and_escaped_quotes_in_strings_do_not_count(text):
    shallow = json.dumps({"s": json.loads(f'"{text}"') if "\\" in text else text, "d": [[1]]})
    assert parse_body(shallow.encode(), max_depth=3)["d"] == [[1]]
    deep = json.dumps({"s": json.loads(f'"{text}"') if "\\" in text else text, "d": [[[1]]]})
    assert refusal(deep.encode(), max_depth=3).field == "body"


def test_long_keys_and_huge_arrays_are_not_refused():
    body = json.dumps({"k" * 100_000: list(range(200_000))}).encode()
    assert len(parse_body(body)["k" * 100_000]) == 200_000


# -- size ---------------------------------------------------------------------------------------


class FakeRequest:
    """A request with headers and a body arriving in chunks; counts the chunks taken."""

    def __init__(self, chunks: list[bytes], headers: dict[str, str] | None = None) -> None:
        self.headers = headers or {}
        self.chunks = chunks
        self.taken = 0

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.taken += 1
            yield chunk
        yield b""  # Starlette ends a body with an empty chunk


def read(request: FakeRequest, limit: int) -> bytes:
    return asyncio.run(read_body(request, limit))


def test_a_body_under_the_limit_is_read_whole():
    request = FakeRequest([b'{"features": ', b'{"a": 1}', b"}"])
    assert read(request, 1000) == b'{"features": {"a": 1}}'
    assert read(FakeRequest([b"x" * 10, b"y" * 10]), 20) == b"x" * 10 + b"y" * 10
    assert read(FakeRequest([]), 1) == b""


def test_reading_stops_at_the_chunk_that_passes_the_limit():
    request = FakeRequest([b"x" * 10] * 100)
    with pytest.raises(TooLarge) as info:
        read(request, 25)
    assert info.value.limit == 25
    assert "25 bytes" in str(info.value)
    assert request.taken == 3  # 30 bytes arrived; the other 97 chunks were never asked for


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    request = FakeRequest([b"x"], {"content-length": str(400 * MiB)})
    with pytest.raises(TooLarge):
        read(request, 16 * MiB)
    assert request.taken == 0


def test_a_declared_length_that_lies_does_not_help():
    request = FakeRequest([b"x" * 10] * 10, {"content-length": "5"})
    with pytest.raises(TooLarge):
        read(request, 50)
    assert read(FakeRequest([b"abc"], {"content-length": "nonsense"}), 5) == b"abc"


def test_limits_are_positive_integers():
    assert Limits() == Limits(16 * MiB, 64, 10_000)
    for bad in (
        {"max_body_bytes": 0},
        {"max_depth": -1},
        {"max_instances": True},
        {"max_depth": 1.5},
    ):
        with pytest.raises(InvalidInput, match=next(iter(bad))):
            Limits(**bad)


def test_read_body_takes_a_real_starlette_request():
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    with warnings.catch_warnings():  # starlette asks for httpx2; httpx is what we have
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    async def echo(request: Request) -> Response:
        try:
            body = await read_body(request, 100)
        except TooLarge as exc:
            return Response(str(exc), status_code=413)
        return Response(body)

    with TestClient(Starlette(routes=[Route("/", echo, methods=["POST"])])) as client:
        assert client.post("/", content=b"x" * 100).content == b"x" * 100
        assert client.post("/", content=b"x" * 101).status_code == 413
        chunked = client.post("/", content=iter([b"y" * 60, b"y" * 60]))  # no Content-Length
        assert chunked.status_code == 413
