"""Predictions and the feedback that arrives for them later: value types, the validation of one
logged record, input hashing and JSONL line parsing. Pure: the clock and the request-id source
are handed in.

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

import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from modelledger.domain.canonical import canonical_json
from modelledger.domain.clock import format_time, parse_time
from modelledger.domain.errors import InvalidInput

Mode = Literal["served", "shadow"]
MODES: frozenset[str] = frozenset({"served", "shadow"})

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
_RESERVED = frozenset(SEGMENT_COLUMNS)

# Printable ASCII without space, '"' or '\': safe in URLs, headers, logs and JSON text unescaped.
_REQUEST_ID = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")
_VERSION_ID = re.compile(r"(mv|sys)-[0-9a-f]{64}")
_SYSTEM_ID = re.compile(r"sys-[0-9a-f]{64}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_LEDGER_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
MAX_NAME = 128

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


_ENCODE_FAST = _fast_encoder()


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
                return _ENCODE_FAST(value)
            except (ValueError, RecursionError):
                pass  # NaN or Infinity: the full path names the field
    elif kind is str or kind is int or kind is bool or value is None:
        return _ENCODE_FAST(value)
    elif kind is float and not value.is_integer():
        try:
            return _ENCODE_FAST(value)
        except ValueError:
            pass
    return canonical_json(value).decode("utf-8")


def output_json(value: Any) -> str:
    """A stored output: sorted, compact JSON. Not an identity, so numbers are kept as given
    (``2.0`` stays ``2.0``); NaN, Infinity and non-JSON values are refused like anywhere else."""
    try:
        return _ENCODE_FAST(value)
    except (TypeError, ValueError, RecursionError):
        return canonical_json(value).decode("utf-8")  # raises InvalidInput naming the field


def _utf8(text: str) -> str:
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


_INF = float("inf")


def _number(value: Any, key: str) -> float | None:
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


def _name(value: Any, key: str) -> str | None:
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


_NONE = type(None)
_SCALARS = frozenset({str, int, float, bool, _NONE})
# JSON value types → the DuckDB column type of a feature in a Parquet segment.
_DUCKDB_TYPES: dict[type, str] = {
    bool: "BOOLEAN",
    int: "BIGINT",
    float: "DOUBLE",
    str: "VARCHAR",
    _NONE: "JSON",
    object: "JSON",
}


def merge_types(a: type, b: type) -> type:
    """The type of a feature seen as ``a`` and as ``b``: null fits anything, integers widen to
    floats, anything else mixed (or nested) is kept as JSON."""
    if a is b or b is _NONE:
        return a
    if a is _NONE:
        return b
    if {a, b} == {int, float}:
        return float
    return object


def segment_columns(feature_types: Mapping[str, type]) -> dict[str, str]:
    """Column name → DuckDB type for a segment: the fixed columns, then the features."""
    columns = {
        "request_id": "VARCHAR",
        "mode": "VARCHAR",
        "version_id": "VARCHAR",
        "served_at": "TIMESTAMPTZ",
    }
    for name, kind in feature_types.items():
        columns[name] = _DUCKDB_TYPES.get(kind, "JSON")
    return columns


@dataclass
class BadRecord:
    position: int
    message: str


@dataclass
class Batch:
    """Validated rows of one ingest batch, with what the store must still confirm (that the
    versions and systems exist) and the feature lines destined for the Parquet segment."""

    env: str
    rows: list[Row] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    feature_lines: list[str] = field(default_factory=list)
    feature_types: dict[str, type] = field(default_factory=dict)
    ids_first_seen: dict[str, int] = field(default_factory=dict)  # known mv-/sys- id → position
    first_served_at: str | None = None
    last_served_at: str | None = None
    served: int = 0
    shadow: int = 0


class BatchBuilder:
    """Validates records one by one into a :class:`Batch`. ``new_id`` mints request ids;
    ``at`` is the served_at of records that carry none; ``known`` answers whether an ``mv-``/
    ``sys-`` id is registered (asked once per id); records whose key is in ``exclude`` are
    refused as already logged. Errors are collected (the first few in
    full, the rest counted) so one pass reports them all."""

    def __init__(
        self,
        env: str,
        at: str,
        new_id: Callable[[], str],
        known: Callable[[str], bool],
        keep_errors: int = 5,
        exclude: frozenset[tuple[str, str, str]] = frozenset(),
    ) -> None:
        self.env = env
        self.at = at
        self.new_id = new_id
        self.known = known
        self.keep_errors = keep_errors
        self.exclude = exclude
        self.errors: list[BadRecord] = []
        self.error_count = 0
        self._keys: set[tuple[str, str, str]] = set()
        self._served: set[str] = set()
        self._unknown: set[str] = set()
        self._last_at: str | None = None
        self._shapes: dict[tuple[tuple[Any, ...], tuple[type, ...]], bool] = {}
        self.batch = Batch(env)

    def fail(self, position: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < self.keep_errors:
            self.errors.append(BadRecord(position, message))

    def add(self, record: Any, position: int) -> None:
        try:
            self._add(record, position)
        except InvalidInput as exc:
            self.fail(position, str(exc))
        except (TypeError, ValueError, RecursionError) as exc:  # a value of an unexpected type
            self.fail(position, f"invalid value: {exc}")

    def _features(self, features: dict[Any, Any]) -> str:
        """The canonical text of the features, noting each one's JSON type on the way (the
        segment's Parquet columns are typed from them, so that no feature is dropped or cast).

        Records of one batch mostly share their keys and value types, so the per-feature work is
        done once per such shape; a record of a known flat shape costs one encode, plus a look
        for integral floats (canonical JSON writes 2.0 as 2: ``x.0`` or ``e+`` in the text)."""
        shape = (tuple(features), tuple(map(type, features.values())))
        flat = self._shapes.get(shape)
        if flat is None:
            flat = self._learn(features)
            self._shapes[shape] = flat
        if flat:
            try:
                text = _ENCODE_FAST(features)
            except ValueError:
                text = None  # NaN or Infinity: the full path names the feature
            if text is not None and not (
                float in shape[1] and (".0," in text or ".0}" in text or "e+" in text)
            ):
                return text
        return canonical_json(features).decode("utf-8")

    def _learn(self, features: dict[Any, Any]) -> bool:
        """Merge a new shape's types into the batch's; True when every value is a scalar under a
        string key (the shapes ``canonical_text``'s fast path handles)."""
        types = self.batch.feature_types
        flat = True
        for key, value in features.items():
            t = type(value)
            if t not in _SCALARS:
                flat = False
                t = object
            if type(key) is not str:
                flat = False
                continue  # canonical JSON refuses it, naming the key
            seen = types.get(key)
            types[key] = t if seen is None else merge_types(seen, t)
        return flat

    def _check_known(self, id_: str, key: str) -> None:
        if id_ in self._unknown or not self.known(id_):
            self._unknown.add(id_)
            what = "version" if id_.startswith("mv-") else "system"
            raise InvalidInput(f"{key} {id_} is not a registered {what} in this ledger")

    def _add(self, rec: Any, position: int) -> None:
        # Written for speed (this runs for every logged prediction): locals over attributes,
        # the common case first, and the messages built only on the way out.
        if type(rec) is not dict:
            if not isinstance(rec, Mapping):
                raise InvalidInput(f"expected a JSON object, got {type(rec).__name__}")
            rec = dict(rec)
        if not PREDICTION_KEYS.issuperset(rec):
            unknown = sorted(str(k) for k in rec if k not in PREDICTION_KEYS)
            raise InvalidInput(
                f"unknown field {', '.join(unknown)} (known: {', '.join(sorted(PREDICTION_KEYS))})"
            )
        get = rec.get
        batch = self.batch
        seen_ids = batch.ids_first_seen
        version_id = get("version_id")
        if type(version_id) is not str or version_id not in seen_ids:
            if version_id is None:
                raise InvalidInput(
                    "version_id is required (the full mv-… or sys-… id that answered)"
                )
            if type(version_id) is not str or not _VERSION_ID.fullmatch(version_id):
                raise InvalidInput(
                    f"version_id {version_id!r} is not a full mv-… or sys-… id (64 hex digits)"
                )
            self._check_known(version_id, "version_id")
            seen_ids[version_id] = position
        if "output" not in rec:
            raise InvalidInput("output is required (null is allowed)")
        env = get("env")
        if env is not None and env != self.env:
            raise InvalidInput(f"env {env!r} differs from the batch's environment {self.env!r}")
        mode = get("mode") or "served"
        if mode != "served" and mode != "shadow":
            raise InvalidInput(f"mode {mode!r}: expected served or shadow")
        request_id = get("request_id")
        if request_id is None:
            request_id = self.new_id()
        elif type(request_id) is not str or not _REQUEST_ID.fullmatch(request_id):
            raise InvalidInput(
                f"request_id {request_id!r}: expected 1-128 printable ASCII characters "
                "without spaces, quotes or backslashes"
            )
        system_id = get("system_id")
        if system_id is not None and (type(system_id) is not str or system_id not in seen_ids):
            if type(system_id) is not str or not _SYSTEM_ID.fullmatch(system_id):
                raise InvalidInput(f"system_id {system_id!r} is not a full sys-… id")
            self._check_known(system_id, "system_id")
            seen_ids[system_id] = position
        arm = get("arm")
        if arm is not None:
            _utf8(_name(arm, "arm") or "")
        served_at = get("served_at")
        if served_at is None:
            served_at = self.at
        else:
            try:
                served_at = normalise_time(served_at)
            except InvalidInput as exc:
                raise InvalidInput(f"served_at: {exc}") from None
        features = get("features")
        feature_text = None
        if features is not None:
            if type(features) is not dict:
                raise InvalidInput(f"features: expected an object, got {type(features).__name__}")
            if not _RESERVED.isdisjoint(features):
                clash = sorted(_RESERVED.intersection(features))
                raise InvalidInput(f"features: {', '.join(clash)} is a reserved column name")
            feature_text = self._features(features)
        given_sha = get("input_sha256")
        if given_sha is not None:
            if type(given_sha) is not str:
                raise InvalidInput("input_sha256: expected 64 hex digits")
            sha = given_sha.removeprefix("sha256:")
            if not _SHA256.fullmatch(sha):
                raise InvalidInput(f"input_sha256 {given_sha!r}: expected 64 lowercase hex digits")
        elif get("input") is not None:
            sha = input_sha256(rec["input"])
        elif feature_text is not None:
            sha = text_sha256(feature_text)
        else:
            raise InvalidInput("give input, input_sha256 or features (the input hash needs one)")
        output_text = _utf8(output_json(rec["output"]))
        if feature_text is not None and (given_sha is not None or get("input") is not None):
            _utf8(feature_text)  # not hashed, so not yet known to encode
        confidence = get("confidence")
        if type(confidence) is not float or not -_INF < confidence < _INF:
            confidence = _number(confidence, "confidence")
        latency = get("latency_ms")
        if type(latency) is not float or not -_INF < latency < _INF:
            latency = _number(latency, "latency_ms")
        if latency is not None and latency < 0:
            raise InvalidInput("latency_ms: must not be negative")
        if self.exclude and (request_id, mode, version_id) in self.exclude:
            raise InvalidInput(f"request {request_id} ({mode}, {version_id}) is already logged")
        if mode == "served":
            served = self._served
            if request_id in served:
                raise InvalidInput(f"request {request_id} is served twice in this batch")
            served.add(request_id)
            batch.served += 1
        else:
            key = (request_id, mode, version_id)
            if key in self._keys:
                raise InvalidInput(
                    f"request {request_id} has two shadow answers from {version_id} in this batch"
                )
            self._keys.add(key)
            batch.shadow += 1
        batch.rows.append(
            (
                request_id,
                mode,
                version_id,
                self.env,
                system_id,
                arm,
                served_at,
                sha,
                output_text,
                confidence,
                latency,
                feature_text is not None,
            )
        )
        batch.positions.append(position)
        if served_at != self._last_at:  # one served_at per batch is the common case
            self._last_at = served_at
            if batch.first_served_at is None or served_at < batch.first_served_at:
                batch.first_served_at = served_at
            if batch.last_served_at is None or served_at > batch.last_served_at:
                batch.last_served_at = served_at
        if feature_text is not None:
            head = (
                f'{{"request_id":"{request_id}","mode":"{mode}","version_id":"{version_id}",'
                f'"served_at":"{served_at}"'
            )
            batch.feature_lines.append(
                head + "}" if feature_text == "{}" else head + "," + feature_text[1:]
            )


def describe_errors(errors: list[BadRecord], count: int, where: Callable[[int], str]) -> str:
    """One line: the first bad record in full, then where the others are."""
    first = errors[0]
    message = f"{where(first.position)}: {first.message}"
    if count > 1:
        listed = ", ".join(where(e.position) for e in errors[1:])
        more = ", …" if count > len(errors) else ""
        message += f" ({count - 1} more bad record(s): {listed}{more})"
    return message


def parse_json_line(text: str | bytes) -> Any:
    """One JSONL line as a value; InvalidInput saying what is wrong with it."""
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidInput(f"malformed JSON ({reason})") from None


def iter_jsonl(lines: Iterable[bytes]) -> Iterable[tuple[int, bytes]]:
    """(line number, line) for the non-blank lines."""
    for number, line in enumerate(lines, 1):
        if line.strip():
            yield number, line


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
    if type(request_id) is not str or not _REQUEST_ID.fullmatch(request_id):
        raise InvalidInput(f"request_id {request_id!r}: expected the logged request's id")
    label = rec.get("label")
    was_correct = rec.get("was_correct")
    if was_correct is not None and type(was_correct) is not bool:
        raise InvalidInput(f"was_correct: expected true or false, got {was_correct!r}")
    if label is None and was_correct is None:
        raise InvalidInput("give label or was_correct (or both)")
    cluster = _name(rec.get("failure_cluster"), "failure_cluster")
    label_json = None if label is None else canonical_text(label)
    try:
        _utf8(label_json or "")
        _utf8(cluster or "")
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
