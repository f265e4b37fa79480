"""What ``model search`` is asked: conditions as typed (``lr>=0.01``, ``auc>0.8``,
``optimizer=adam``, ``lr=0.01..0.1``, ``stage``), parsed and checked before any query runs."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from modelledger.core.errors import InvalidInput
from modelledger.core.params import parse_value

ORDERING = frozenset({"<", "<=", ">", ">="})
_CONDITION = re.compile(r"^(?P<key>[^<>=!]+?)\s*(?P<op>>=|<=|!=|=|<|>)\s*(?P<value>.*)$")
_RANGE = re.compile(r"^(?P<low>[^.]*(?:\.\d+)?)\.\.(?P<high>[^.]*(?:\.\d+)?)$")


@dataclass(frozen=True)
class Condition:
    key: str
    op: str | None  # None: the key is there, whatever its value
    value: Any = None

    @property
    def numeric(self) -> bool:
        return _is_number(self.value)


def parse(text: str, option: str, kind: str = "param") -> list[Condition]:
    """One condition, or two for a range ``KEY=LOW..HIGH`` (both ends included); a bare key
    asks that the key be there. An ordering needs a number. ``kind``: a ``param`` value is read
    as JSON when it parses (``0.1``, ``true``), a ``metric`` value must be a number, a ``tag``
    value is text as typed and cannot be ordered."""
    text = text.strip()
    found = _CONDITION.match(text)
    if found is None:
        if not text or any(c in text for c in "<>=!"):
            raise InvalidInput(
                f"{option} {text!r}: expected KEY, KEY=VALUE, KEY!=VALUE, KEY<N, KEY<=N, KEY>N, "
                "KEY>=N or KEY=LOW..HIGH"
            )
        return [Condition(text, None)]
    key, op, raw = found["key"].strip(), found["op"], found["value"].strip()
    if kind == "tag":
        if op not in ("=", "!="):
            raise InvalidInput(
                f"{option} {text!r}: tags are text; use KEY, KEY=VALUE or KEY!=VALUE"
            )
        return [Condition(key, op, found["value"])]
    bounds = _RANGE.match(raw) if op == "=" else None
    if bounds and all(_is_number(parse_value(b)) for b in bounds.groups()):
        low, high = (_number(b, option, text) for b in bounds.groups())
        if low > high:
            raise InvalidInput(f"{option} {text!r}: the range is empty ({low:g} > {high:g})")
        return [Condition(key, ">=", low), Condition(key, "<=", high)]
    if op in ORDERING or kind == "metric":
        value: Any = _number(raw, option, text)
    else:
        value = parse_value(raw)
        if _is_number(value):
            value = _number(raw, option, text)  # finite, or refused
    return [Condition(key, op, value)]


def parse_all(texts: Iterable[str], option: str, kind: str = "param") -> list[Condition]:
    """Every condition of a repeated option, ranges as their two ends."""
    return [c for text in texts for c in parse(text, option, kind)]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(raw: str, option: str, text: str) -> float:
    value = parse_value(raw)
    try:
        if _is_number(value) and math.isfinite(value):
            return float(value)
    except OverflowError:  # an integer beyond any float
        pass
    raise InvalidInput(f"{option} {text!r}: {raw!r} is not a finite number")


@dataclass(frozen=True)
class Search:
    """Every filter of one search; each given narrows. Newest first."""

    name: str | None = None  # exact, or a pattern with ``*``
    params: list[Condition] = field(default_factory=list)
    metrics: list[Condition] = field(default_factory=list)
    eval_set: str | None = None  # a ds- ref or an eval set's name; needed when metrics are
    data: list[str] = field(default_factory=list)  # ds- refs or snapshot names
    tags: list[Condition] = field(default_factory=list)
    registered_by: str | None = None
    since: str | None = None  # ISO-8601 or a duration back from now
    until: str | None = None
    limit: int = 50

    @classmethod
    def asked(cls, name: str | None, **given: Any) -> Search:
        """From what ``model search`` takes (and ``GET /search``, by the same names): the
        conditions as typed (``param``, ``metric``, ``tag``), ``eval_set``, ``data``, ``by``,
        ``since``, ``until``, ``limit``."""
        return cls(
            name=name,
            params=parse_all(given.get("param") or [], "--param"),
            metrics=parse_all(given.get("metric") or [], "--metric", "metric"),
            eval_set=given.get("eval_set"),
            data=list(given.get("data") or []),
            tags=parse_all(given.get("tag") or [], "--tag", "tag"),
            registered_by=given.get("by"),
            since=given.get("since"),
            until=given.get("until"),
            limit=given.get("limit", 50),
        )


def name_pattern(name: str) -> str | None:
    """A LIKE pattern for a name with ``*`` (``_`` and ``%`` taken literally), None without."""
    if "*" not in name:
        return None
    escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")
