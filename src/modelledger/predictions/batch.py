"""Validating logged records into a batch: the rows for the predictions table, the feature lines
for the batch's Parquet segment (and the column type of each feature), and the bad records, named
by position. The checks of one field are in ``predictions``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelledger.core.canonical import canonical_json
from modelledger.core.errors import InvalidInput
from modelledger.predictions.json_text import (
    compact_json,
    input_sha256,
    output_json,
    text_sha256,
    utf8_text,
)
from modelledger.predictions.records import (
    PREDICTION_KEYS,
    REQUEST_ID,
    SEGMENT_COLUMNS,
    SHA256_HEX,
    SYSTEM_ID,
    VERSION_ID,
    Row,
    normalise_time,
    optional_name,
    optional_number,
)

_RESERVED = frozenset(SEGMENT_COLUMNS)
_INF = float("inf")
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
                text = compact_json(features)
            except ValueError:
                text = None  # NaN or Infinity: the full path names the feature
            if text is not None and not (
                float in shape[1] and (".0," in text or ".0}" in text or "e+" in text)
            ):
                return text
        return canonical_json(features).decode("utf-8")

    def _learn(self, features: dict[Any, Any]) -> bool:
        """Check a new shape's keys and merge its types into the batch's; True when every value is
        a scalar under a string key (the shapes ``canonical_text``'s fast path handles)."""
        if not _RESERVED.isdisjoint(features):
            clash = sorted(_RESERVED.intersection(features))
            raise InvalidInput(f"features: {', '.join(clash)} is a reserved column name")
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
            if type(version_id) is not str or not VERSION_ID.fullmatch(version_id):
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
        elif type(request_id) is not str or not REQUEST_ID.fullmatch(request_id):
            raise InvalidInput(
                f"request_id {request_id!r}: expected 1-128 printable ASCII characters "
                "without spaces, quotes or backslashes"
            )
        system_id = get("system_id")
        if system_id is not None and (type(system_id) is not str or system_id not in seen_ids):
            if type(system_id) is not str or not SYSTEM_ID.fullmatch(system_id):
                raise InvalidInput(f"system_id {system_id!r} is not a full sys-… id")
            self._check_known(system_id, "system_id")
            seen_ids[system_id] = position
        arm = get("arm")
        if arm is not None:
            utf8_text(optional_name(arm, "arm") or "")
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
            feature_text = self._features(features)
        given_sha = get("input_sha256")
        if given_sha is not None:
            if type(given_sha) is not str:
                raise InvalidInput("input_sha256: expected 64 hex digits")
            sha = given_sha.removeprefix("sha256:")
            if not SHA256_HEX.fullmatch(sha):
                raise InvalidInput(f"input_sha256 {given_sha!r}: expected 64 lowercase hex digits")
        elif get("input") is not None:
            sha = input_sha256(rec["input"])
        elif feature_text is not None:
            sha = text_sha256(feature_text)
        else:
            raise InvalidInput("give input, input_sha256 or features (the input hash needs one)")
        output_text = utf8_text(output_json(rec["output"]))
        if feature_text is not None and (given_sha is not None or get("input") is not None):
            utf8_text(feature_text)  # not hashed, so not yet known to encode
        confidence = get("confidence")
        if type(confidence) is not float or not -_INF < confidence < _INF:
            confidence = optional_number(confidence, "confidence")
        latency = get("latency_ms")
        if type(latency) is not float or not -_INF < latency < _INF:
            latency = optional_number(latency, "latency_ms")
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
