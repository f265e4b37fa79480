"""Reading a ``multipart/form-data`` body (RFC 7578) that was spooled to a file, without
copying it: the parts are found as offsets into the bytes (an ``mmap`` or ``bytes``). Pure.

Small on purpose: a few named parts (the metadata, the artifact, a lock), no nesting, no
transfer encodings; anything else is refused as a bad request rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from modelledger.core.errors import InvalidInput

MAX_PARTS = 8
MAX_HEAD = 8192  # bytes of headers per part
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


class BadBody(InvalidInput):
    """The body is not what its Content-Type says (HTTP 400)."""


class Searchable(Protocol):
    def find(self, sub: bytes, start: int = ..., /) -> int: ...
    def __getitem__(self, key: slice, /) -> bytes: ...


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def content_params(header: str) -> tuple[str, dict[str, str]]:
    """A header's value and its ``; key=value`` parameters (keys lower-cased)."""
    value, _, rest = header.partition(";")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PARAM.finditer(";" + rest)
    }
    return value.strip().lower(), params


def boundary_of(content_type: str) -> bytes:
    kind, params = content_params(content_type)
    boundary = params.get("boundary", "")
    if kind != "multipart/form-data" or not 1 <= len(boundary) <= 70:
        raise BadBody("a multipart body needs Content-Type: multipart/form-data; boundary=…")
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        raise BadBody("the multipart boundary is not ASCII") from None


def parts(data: Searchable, size: int, boundary: bytes) -> list[Part]:
    """The parts of ``data`` (``size`` bytes long), in order."""
    delim = b"--" + boundary
    pos = data.find(delim, 0)
    if pos < 0:
        raise BadBody("the body holds no multipart boundary")
    found: list[Part] = []
    while True:
        pos += len(delim)
        if data[pos : pos + 2] == b"--":
            return found
        if data[pos : pos + 2] != b"\r\n":
            raise BadBody("a multipart boundary is not followed by CRLF")
        if len(found) == MAX_PARTS:
            raise BadBody(f"more than {MAX_PARTS} parts")
        head_start = pos + 2
        head_end = data.find(b"\r\n\r\n", head_start)
        if head_end < 0 or head_end - head_start > MAX_HEAD:
            raise BadBody("a part's headers do not end (or are too long)")
        name, filename, ctype = _headers(data[head_start:head_end])
        start = head_end + 4
        end = data.find(b"\r\n" + delim, start)
        if end < 0 or end > size:
            raise BadBody("the multipart body ends before its closing boundary")
        found.append(Part(name, filename, ctype, start, end))
        pos = end + 2


def _headers(raw: bytes) -> tuple[str, str | None, str | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("a part's headers are not UTF-8") from None
    disposition = ctype = None
    for line in text.split("\r\n"):
        key, colon, value = line.partition(":")
        if not colon:
            raise BadBody(f"a part's header line has no colon: {line[:60]!r}")
        key = key.strip().lower()
        if key == "content-disposition":
            disposition = value
        elif key == "content-type":
            ctype = value.strip()
        elif key == "content-transfer-encoding" and value.strip().lower() not in ("binary", "8bit"):
            raise BadBody("parts are sent as they are (no Content-Transfer-Encoding)")
    if disposition is None:
        raise BadBody("a part has no Content-Disposition")
    kind, params = content_params(disposition)
    if kind != "form-data" or "name" not in params:
        raise BadBody("a part's Content-Disposition is not form-data with a name")
    return params["name"], params.get("filename"), ctype
