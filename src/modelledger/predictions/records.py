"""Predictions and the feedback that arrives for them later: value types, the fields of a logged
record and the checks of one field, request ids, and the validation of one feedback record. A batch
of records is validated by ``prediction_batch``; their JSON text and hashes are ``prediction_json``.
Pure: the clock and the random bits are handed in.

A record is a mapping with these keys (anything else is refused, so a typo is not silently lost):

    version_id      required: the full ``mv-``/``sys-`` id that answered
    output          required: any JSON value (stored as sorted, compact JSON)
    request_id      generated when absent (time-ordered 32 hex); shadows reuse the served one's
    env             optional: must equal the batch's environment
    system_id       optional: the ``sys-`` id of the system the version ran in
    arm             optional: the routing arm's name
    mode            ``served`` (default) or ``shadow``
    served_at       ledger time text, any ISO-8601 instant, a datetime or epoch seconds;
                    the batch's time when absent
    input | input_sha256 | features
                    the input hash is ``input_sha256`` when given, else the sha256 of the
                    canonical JSON of ``input``, else of ``features``; one of them is required
    confidence, latency_ms   optional finite numbers
    features        optional mapping of feature name → JSON value (goes to the Parquet segment)

A value given as null counts as absent.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from modelledger.core.clock import format_time, parse_time
from modelledger.core.errors import InvalidInput
from modelledger.predictions.json_text import canonical_text, utf8_text

Mode = Literal["served", "shadow"]

PREDICTION_KEYS = frozenset(
    {
        "request_id",
        "env",
        "system_id",
        "version_id",
        "arm",
        "mode",
        "served_at",
        "input",
        "input_sha256",
        "output",
        "confidence",
        "latency_ms",
        "features",
    }
)
FEEDBACK_KEYS = frozenset({"request_id", "label", "was_correct", "failure_cluster"})
# Columns every Parquet segment row carries beside the features; a feature may not take these names.
SEGMENT_COLUMNS = ("request_id", "mode", "version_id", "served_at")

# Printable ASCII without space, '"' or '\': safe in URLs, headers, logs and JSON text unescaped.
REQUEST_ID = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")
VERSION_ID = re.compile(r"(mv|sys)-[0-9a-f]{64}")
SYSTEM_ID = re.compile(r"sys-[0-9a-f]{64}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_LEDGER_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
MAX_NAME = 128


def _uuid7(unix_ms: int, random74: int) -> int:
    rand_a = (random74 >> 62) & 0xFFF
    rand_b = random74 & ((1 << 62) - 1)
    return (unix_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b


def new_request_id(unix_ms: int, random74: int) -> str:
    """A UUIDv7 as 32 hex digits: 48 bits of milliseconds, then random bits. Time-ordered ids
    land at the right edge of the predictions index, which keeps bulk inserts local (random keys
    cost SQLite about twice the time per row), and they sort by when they were minted."""
    return f"{_uuid7(unix_ms, random74):032x}"


class RequestIds:
    """Request ids for one batch: a UUIDv7 of the batch's millisecond and random bits, then
    counting up from it, so the batch's rows are contiguous in the index. The count runs in the
    low 61 random bits (started below 2**61, it cannot carry into the variant bits). Safe to call
    from several threads: ``next`` on ``itertools.count`` is atomic."""

    def __init__(self, unix_ms: int, random74: int) -> None:
        start = _uuid7(unix_ms, random74 & ~(1 << 61))
        self._count = itertools.count(start)

    def __call__(self) -> str:
        return f"{next(self._count):032x}"


def normalise_time(value: Any) -> str:
    """Ledger time text (UTC, microseconds) from text, a datetime or epoch seconds."""
    if type(value) is str:
        if _LEDGER_TIME.fullmatch(value):
            try:
                datetime.fromisoformat(value[:-1])  # range check (month 13, Feb 30…)
            except ValueError:
                raise InvalidInput(f"not a valid time: {value!r}") from None
            return value
        return format_time(parse_time(value))
    if isinstance(value, datetime):
        return format_time(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return format_time(datetime.fromtimestamp(value, UTC))
        except (OverflowError, OSError, ValueError):
            raise InvalidInput(f"not a valid epoch time: {value!r}") from None
    raise InvalidInput(f"expected an ISO-8601 time, got {type(value).__name__}")


def optional_number(value: Any, key: str) -> float | None:
    if value is None:
        return None
    t = type(value)
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidInput(f"{key}: must be a finite number")
        return value  # type: ignore[no-any-return]
    if t is int:
        return float(value)
    raise InvalidInput(f"{key}: expected a number, got {t.__name__}")


def optional_name(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if type(value) is not str or not value or len(value) > MAX_NAME:
        raise InvalidInput(f"{key}: expected a non-empty string of at most {MAX_NAME} characters")
    return value


@dataclass(frozen=True)
class Prediction:
    """One logged answer. Served and shadow answers to one request share its request id; the
    key is (request_id, mode, version_id)."""

    request_id: str
    env: str
    version_id: str
    system_id: str | None
    arm: str | None
    mode: Mode
    served_at: str
    input_sha256: str
    output: Any
    confidence: float | None
    latency_ms: float | None
    segment_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "env": self.env,
            "version_id": self.version_id,
            "system_id": self.system_id,
            "arm": self.arm,
            "mode": self.mode,
            "served_at": self.served_at,
            "input_sha256": self.input_sha256,
            "output": self.output,
            "confidence": self.confidence,
            "latency_ms": self.latency_ms,
            "segment_id": self.segment_id,
        }

    @classmethod
    def from_record(cls, row: Mapping[str, Any]) -> Prediction:
        """From a stored ``predictions`` row (column name → value)."""
        return cls(
            request_id=row["request_id"],
            env=row["env"],
            version_id=row["version_id"],
            system_id=row["system_id"],
            arm=row["arm"],
            mode=row["mode"],
            served_at=row["served_at"],
            input_sha256=row["input_sha256"],
            output=json.loads(row["output_json"]),
            confidence=row["confidence"],
            latency_ms=row["latency_ms"],
            segment_id=row["segment_id"],
        )


# The column order of a prediction row as the batch builder emits it (and the bulk writers take).
ROW_COLUMNS = (
    "request_id",
    "mode",
    "version_id",
    "env",
    "system_id",
    "arm",
    "served_at",
    "input_sha256",
    "output_json",
    "confidence",
    "latency_ms",
    "segment_id",
)
# The last slot holds, until the segment is written, whether the record had features.
Row = tuple[Any, ...]


@dataclass(frozen=True)
class FeedbackItem:
    request_id: str
    label_json: str | None
    was_correct: bool | None
    failure_cluster: str | None


def validate_feedback(rec: Any) -> FeedbackItem:
    """One feedback record: ``request_id`` and ``label`` and/or ``was_correct``, optionally a
    ``failure_cluster`` name."""
    if not isinstance(rec, Mapping):
        raise InvalidInput(f"expected a JSON object, got {type(rec).__name__}")
    unknown = sorted(str(k) for k in rec if k not in FEEDBACK_KEYS)
    if unknown:
        raise InvalidInput(
            f"unknown field {', '.join(unknown)} (known: {', '.join(sorted(FEEDBACK_KEYS))})"
        )
    request_id = rec.get("request_id")
    if type(request_id) is not str or not REQUEST_ID.fullmatch(request_id):
        raise InvalidInput(f"request_id {request_id!r}: expected the logged request's id")
    label = rec.get("label")
    was_correct = rec.get("was_correct")
    if was_correct is not None and type(was_correct) is not bool:
        raise InvalidInput(f"was_correct: expected true or false, got {was_correct!r}")
    if label is None and was_correct is None:
        raise InvalidInput("give label or was_correct (or both)")
    cluster = optional_name(rec.get("failure_cluster"), "failure_cluster")
    label_json = None if label is None else canonical_text(label)
    try:
        utf8_text(label_json or "")
        utf8_text(cluster or "")
    except ValueError as exc:
        raise InvalidInput(f"not valid UTF-8 text: {exc}") from None
    return FeedbackItem(request_id, label_json, was_correct, cluster)


def arm_role(mode: str, answered_by: set[str], pinned: str | None) -> str:
    """How the answer relates to the environment's pointer at the time: ``shadow`` (not
    returned), ``live`` (the pinned id answered), ``canary`` (a routed arm answered instead), or
    ``unpinned`` (nothing was live in the environment then)."""
    if mode == "shadow":
        return "shadow"
    if pinned is None:
        return "unpinned"
    return "live" if pinned in answered_by else "canary"
