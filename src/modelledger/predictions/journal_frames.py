"""The serving journal's byte format (pure): a header, then framed records.

    header  b"MLJOURNAL1\\n"
    frame   length (4 bytes, little-endian) · CRC-32 of the payload (4 bytes) · payload

A frame is written whole by one ``write`` and made durable by the fsync that acknowledges it, so
after a crash only the frames of the last, unacknowledged group can be incomplete: a torn tail.
A frame that fails its length or CRC with a valid frame somewhere after it is not a torn tail but
damage to acknowledged records, and is reported as such.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

HEADER = b"MLJOURNAL1\n"
_PREFIX = struct.Struct("<II")
MAX_FRAME = 64 << 20  # one batch of answers; a larger length is damage, not a record


def frame(payload: bytes) -> bytes:
    return _PREFIX.pack(len(payload), zlib.crc32(payload)) + payload


def frames(payloads: Iterable[bytes]) -> bytes:
    return b"".join(frame(p) for p in payloads)


@dataclass
class Scan:
    """What a journal's bytes hold: the payloads of its whole frames, in order."""

    payloads: list[bytes] = field(default_factory=list)
    end: int = 0  # offset just past the last whole frame
    torn: int = 0  # bytes after ``end`` that are no whole frame (an interrupted write)
    damaged: bool = False  # a bad frame with whole frames after it
    header_ok: bool = True


def _frame_at(data: bytes | memoryview, at: int) -> int | None:
    """The offset past a whole, intact frame starting at ``at``; None if there is none."""
    if at + _PREFIX.size > len(data):
        return None
    length, crc = _PREFIX.unpack_from(data, at)
    start: int = at + _PREFIX.size
    stop: int = start + length
    if length > MAX_FRAME or stop > len(data):
        return None
    if zlib.crc32(data[start:stop]) != crc:
        return None
    return stop


def scan(data: bytes, start: int = 0) -> Scan:
    """Read the frames of a journal's bytes from ``start`` (0: the beginning, header included)."""
    out = Scan()
    view = memoryview(data)
    at = start
    if start == 0:
        if not data.startswith(HEADER):
            # a crash between creating the file and writing its header leaves a prefix of it
            out.header_ok = HEADER.startswith(data[: len(HEADER)])
            out.torn = len(data) if out.header_ok else 0
            out.damaged = not out.header_ok
            return out
        at = len(HEADER)
    while (stop := _frame_at(view, at)) is not None:
        out.payloads.append(bytes(view[at + _PREFIX.size : stop]))
        at = stop
    out.end = at
    rest = len(data) - at
    if rest:
        out.damaged = _any_frame_after(view, at + 1)
        out.torn = 0 if out.damaged else rest
    return out


def _any_frame_after(view: memoryview, at: int) -> bool:
    """Whether a whole frame starts anywhere from ``at`` on: the sign of damage in the middle.
    A random 8-byte prefix passing the length and CRC checks by chance is a 1 in 2**32 event."""
    return any(_frame_at(view, i) is not None for i in range(at, len(view) - _PREFIX.size + 1))
