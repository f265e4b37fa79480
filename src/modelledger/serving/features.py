"""Checking a request against the serving contract (the model card's ``inputs:``).

Every declared input must be present, non-null and of its type, and nothing else may be sent,
so a renamed or forgotten feature fails loudly (422, naming it) instead of being scored on a
default. Types, as JSON carries them:

    float     a number (an integer is a float too; true/false is not)
    int       an integer
    bool      true or false
    str       a string
    category  a string or an integer (codes)
    datetime  ISO-8601 text, e.g. 2024-05-01T12:00:00Z

A version without declared inputs accepts any object of features. The route's sticky-key field
may be sent beside the declared inputs (it picks the arm); the model never sees it unless it is
one of its inputs. Feature names the inference log keeps for itself are refused, because such a
prediction could not be logged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from modelledger.core.errors import InvalidInput
from modelledger.predictions.records import REQUEST_ID, SEGMENT_COLUMNS

RESERVED = frozenset(SEGMENT_COLUMNS)


class BadRequest(InvalidInput):
    """A request the server answers with 422: ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _is_float(v: Any) -> bool:
    t = type(v)
    return t is float or t is int


def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_bool(v: Any) -> bool:
    return type(v) is bool


def _is_str(v: Any) -> bool:
    return type(v) is str


def _is_category(v: Any) -> bool:
    t = type(v)
    return t is str or t is int


def _is_datetime(v: Any) -> bool:
    if type(v) is not str:
        return False
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


CHECKS: dict[str, Callable[[Any], bool]] = {
    "float": _is_float,
    "int": _is_int,
    "bool": _is_bool,
    "str": _is_str,
    "category": _is_category,
    "datetime": _is_datetime,
}


class Contract:
    """The checks for one model's inputs, compiled once when the model is loaded."""

    def __init__(self, inputs: Mapping[str, str] | None, sticky_key: str | None = None) -> None:
        self.inputs = dict(inputs) if inputs is not None else None
        self.sticky_key = sticky_key
        self._names = frozenset(self.inputs) if self.inputs is not None else None
        # the sticky field may ride along when the model does not take it itself
        self._extra = (
            frozenset({sticky_key})
            if sticky_key is not None and self._names is not None and sticky_key not in self._names
            else frozenset()
        )
        self._checks = tuple(
            (name, kind, CHECKS.get(kind, _is_str)) for name, kind in sorted((inputs or {}).items())
        )
        bad = sorted(RESERVED.intersection(self._names or ()))
        if bad:
            raise InvalidInput(
                f"declared input {bad[0]!r} is a name the inference log reserves; rename it"
            )

    def check(self, features: Any, where: str = "features") -> dict[str, Any]:
        """The features the model sees (the request's, less a sticky field it does not take);
        BadRequest naming the first offending field otherwise."""
        if type(features) is not dict:
            raise BadRequest(where, f"{where}: expected an object of feature values")
        names = self._names
        if names is None:
            if not RESERVED.isdisjoint(features):
                bad = sorted(RESERVED.intersection(features))[0]
                raise BadRequest(
                    f"{where}.{bad}", f"feature {bad!r} is a name the inference log reserves"
                )
            return features
        keys = features.keys()
        if keys != names and not (self._extra and keys - self._extra == names):
            self._explain(features, where)
        for name, kind, ok in self._checks:
            value = features[name]
            if not ok(value):
                what = "null" if value is None else type(value).__name__
                raise BadRequest(
                    f"{where}.{name}", f"feature {name!r} must be {kind}, got {what}: {value!r}"
                )
        if self._extra and len(features) > len(names):
            return {k: v for k, v in features.items() if k in names}
        return features

    def _explain(self, features: dict[str, Any], where: str) -> None:
        assert self.inputs is not None
        missing = sorted(n for n in self.inputs if n not in features)
        if missing:
            name = missing[0]
            more = f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""
            raise BadRequest(
                f"{where}.{name}", f"missing feature {name!r} ({self.inputs[name]}){more}"
            )
        extra = sorted(str(k) for k in features if k not in self.inputs and k not in self._extra)
        name = extra[0]
        raise BadRequest(
            f"{where}.{name}",
            f"unexpected feature {name!r}: the version declares "
            f"{', '.join(sorted(self.inputs)) or 'no inputs'}",
        )


def check_request_id(value: Any, where: str = "request_id") -> str:
    if type(value) is not str or not REQUEST_ID.fullmatch(value):
        raise BadRequest(
            where,
            f"{where} {value!r}: expected 1-128 printable ASCII characters without spaces, "
            "quotes or backslashes",
        )
    return value
