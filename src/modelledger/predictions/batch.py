"""Validating logged records into a batch: the rows for the predictions table, the feature lines
for the batch's Parquet segment (and the column type of each feature), and the bad records, named
by position. The checks of one field are in ``predictions``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from modelledger.core.canonical import canonical_json
from modelledger.core.errors import InvalidInput
from modelledger.predictions.json_text import (
    BadLine,
    compact_json,
    flat_json,
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
# The optional fields that have a default: a record with none of them (the common one) takes
# every default without looking each one up.
_OPTIONAL = frozenset(
    {"env", "mode", "request_id", "system_id", "arm", "served_at", "input_sha256", "input"}
)
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


# What ``flat_json`` needs of a flat object's shape: whether every value is a JSON scalar, and
# the keys of its floats.
_Flat = tuple[bool, tuple[Any, ...]]
_NOT_FLAT: _Flat = (False, ())


def _flat(keys: tuple[Any, ...], kinds: tuple[type, ...]) -> _Flat:
    if not _SCALARS.issuperset(kinds):
        return _NOT_FLAT
    return True, tuple(k for k, t in zip(keys, kinds, strict=True) if t is float)


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
        self._shapes: dict[tuple[tuple[Any, ...], tuple[type, ...]], _Flat] = {}
        self._outputs: dict[tuple[tuple[Any, ...], tuple[type, ...]], _Flat] = {}
        self.batch = Batch(env)

    def fail(self, position: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < self.keep_errors:
            self.errors.append(BadRecord(position, message))

    def add(self, record: Any, position: int) -> None:
        self.add_from(iter([(position, record)]))

    def add_from(self, records: Iterator[tuple[int, Any]], limit: int = sys.maxsize) -> bool:
        """Validate (position, record) pairs (a :class:`BadLine` for a record that could not be
        read) until the batch holds ``limit`` rows: True then, False once ``records`` run out.
        One call for many records, as this loop is part of every logged prediction's cost."""
        rows = self.batch.rows
        add = self._add
        for position, record in records:
            if type(record) is BadLine:
                self.fail(position, record.message)
            else:
                try:
                    add(record, position)
                except InvalidInput as exc:
                    self.fail(position, str(exc))
                except (TypeError, ValueError, RecursionError) as exc:  # an unexpected type
                    self.fail(position, f"invalid value: {exc}")
            if len(rows) >= limit:
                return True
        return False

    def _features(self, features: dict[Any, Any]) -> str:
        """The canonical text of the features, noting each one's JSON type on the way (the
        segment's Parquet columns are typed from them, so that no feature is dropped or cast).

        Records of one batch mostly share their keys and value types, so the per-feature work is
        done once per such shape; a record of a known flat shape costs one orjson encode and a
        look at its floats (``flat_json``)."""
        keys = tuple(features)
        shape = (keys, tuple(map(type, features.values())))
        known = self._shapes.get(shape)
        if known is None:
            known = self._shapes[shape] = self._learn(features, *shape)
        flat, floats = known
        if flat:
            text = flat_json(features, floats, canonical=True)
            if text is not None:
                return text
            try:  # where orjson declines, as before it (a lone surrogate fails the input hash)
                text = compact_json(features)
            except ValueError:
                text = None  # NaN or Infinity: the full path names the feature
            if text is not None and not any(features[k].is_integer() for k in floats):
                return text
        return canonical_json(features).decode("utf-8")

    def _learn(
        self, features: dict[Any, Any], keys: tuple[Any, ...], kinds: tuple[type, ...]
    ) -> _Flat:
        """Check a new shape's keys and merge its types into the batch's; flat when every value
        is a scalar under a string key (the shapes ``flat_json`` handles)."""
        if not _RESERVED.isdisjoint(features):
            clash = sorted(_RESERVED.intersection(features))
            raise InvalidInput(f"features: {', '.join(clash)} is a reserved column name")
        types = self.batch.feature_types
        for key, t in zip(keys, kinds, strict=True):
            if t not in _SCALARS:
                t = object
            if type(key) is str:  # else canonical JSON refuses it, naming the key
                seen = types.get(key)
                types[key] = t if seen is None else merge_types(seen, t)
        return _flat(keys, kinds) if all(type(k) is str for k in keys) else _NOT_FLAT

    def _output(self, output: Any) -> str:
        """The stored text of an output (``output_json``): a flat object's by ``flat_json``, its
        value types looked at once per batch."""
        if type(output) is dict:
            keys = tuple(output)
            shape = (keys, tuple(map(type, output.values())))
            known = self._outputs.get(shape)
            if known is None:
                known = self._outputs[shape] = _flat(*shape)
            if known[0] and (text := flat_json(output, known[1], canonical=False)) is not None:
                return text
        return utf8_text(output_json(output))

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
        if _OPTIONAL.isdisjoint(rec):  # the common record: what a serving process knows
            mode, request_id, served_at = "served", self.new_id(), self.at
            system_id = arm = given_sha = given_input = None
        else:
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
            given_sha = get("input_sha256")
            given_input = get("input")
        features = get("features")
        feature_text = None
        if features is not None:
            if type(features) is not dict:
                raise InvalidInput(f"features: expected an object, got {type(features).__name__}")
            feature_text = self._features(features)
        if given_sha is not None:
            if type(given_sha) is not str:
                raise InvalidInput("input_sha256: expected 64 hex digits")
            sha = given_sha.removeprefix("sha256:")
            if not SHA256_HEX.fullmatch(sha):
                raise InvalidInput(f"input_sha256 {given_sha!r}: expected 64 lowercase hex digits")
        elif given_input is not None:
            sha = input_sha256(given_input)
        elif feature_text is not None:
            try:
                sha = sha256(feature_text.encode()).hexdigest()
            except UnicodeEncodeError:
                sha = text_sha256(feature_text)  # refuses it, saying why
        else:
            raise InvalidInput("give input, input_sha256 or features (the input hash needs one)")
        output_text = self._output(rec["output"])
        if feature_text is not None and (given_sha is not None or given_input is not None):
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
            rest = "}" if feature_text == "{}" else "," + feature_text[1:]
            batch.feature_lines.append(
                f'{{"request_id":"{request_id}","mode":"{mode}","version_id":"{version_id}",'
                f'"served_at":"{served_at}"{rest}'
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
