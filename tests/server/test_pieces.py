"""The server's pure pieces: the failure limiter and the multipart reader."""

from __future__ import annotations

import pytest

from modelledger.server.multipart import BadBody, boundary_of, parts
from modelledger.server.ratelimit import FailureLimiter


def test_the_limiter_refuses_past_the_limit_until_the_window_passes():
    clock = [0.0]
    limiter = FailureLimiter(3, 60.0, lambda: clock[0])
    for _ in range(3):
        assert limiter.retry_after("a") is None
        limiter.failed("a")
    assert limiter.retry_after("a") == pytest.approx(60.0)
    assert limiter.retry_after("b") is None  # per address
    clock[0] = 30.0
    assert limiter.retry_after("a") == pytest.approx(30.0)
    clock[0] = 60.5
    assert limiter.retry_after("a") is None


def test_the_limiter_forgets_the_quiet_when_full():
    limiter = FailureLimiter(1, 60.0, lambda: 0.0, max_clients=2)
    for client in ("a", "b", "c"):
        limiter.failed(client)
    assert limiter.retry_after("c") is not None and limiter.retry_after("a") is None


def body(*chunks: bytes) -> bytes:
    return b"".join(chunks)


def test_multipart_parts_are_found_as_offsets():
    data = body(
        b"--xyz\r\n",
        b'Content-Disposition: form-data; name="metadata"\r\n\r\n{"name": "a"}\r\n',
        b"--xyz\r\n",
        b'Content-Disposition: form-data; name="artifact"; filename="m.bin"\r\n',
        b"Content-Type: application/octet-stream\r\n\r\n\x00\r\n--xy\r\n",
        b"--xyz--\r\n",
    )
    found = parts(data, len(data), boundary_of('multipart/form-data; boundary="xyz"'))
    assert [(p.name, p.filename) for p in found] == [("metadata", None), ("artifact", "m.bin")]
    assert data[found[0].start : found[0].end] == b'{"name": "a"}'
    assert data[found[1].start : found[1].end] == b"\x00\r\n--xy"  # a near-boundary is content


@pytest.mark.parametrize(
    "data, words",
    [
        (b"nothing", "no multipart boundary"),
        (b"--xyz\r\nContent-Disposition: form-data; name=a\r\n\r\nunterminated", "ends before"),
        (b"--xyz\r\nno colon here\r\n\r\nx\r\n--xyz--", "no colon"),
        (b"--xyz\r\nContent-Type: text/plain\r\n\r\nx\r\n--xyz--", "no Content-Disposition"),
        (b"--xyzjunk", "not followed by CRLF"),
    ],
)
def test_bad_multipart_bodies_are_refused(data, words):
    with pytest.raises(BadBody, match=words):
        parts(data, len(data), b"xyz")


def test_a_boundary_is_required():
    for header in (
        "multipart/form-data",
        "application/json; boundary=x",
        "multipart/form-data; boundary=",
    ):
        with pytest.raises(BadBody):
            boundary_of(header)
