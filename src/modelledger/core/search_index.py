"""The rows ``model search`` filters on, derived from records that never change.

Hyperparameters: one row per leaf, nested keys joined
with dots (``{"opt": {"lr": 0.1}}`` is ``opt.lr``), a number also kept as a number so that a
range is an index scan. Lists are leaves: their canonical JSON is compared whole. A text
longer than ``TEXT_LIMIT`` is kept as its sha256, so equality still works while an index entry
stays within what PostgreSQL's b-tree accepts; a key that two spellings flatten to (``a.b`` and
``{"a": {"b": …}}``) keeps both values."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple


class ParamRow(NamedTuple):
    key: str
    num: float | None
    text: str


TEXT_LIMIT = 256
KEY_LIMIT = 256  # a longer key is not indexed (the column's width): search cannot name it


def as_text(value: Any) -> str:
    """How a value is compared as text: a string as it is, anything else as compact JSON (the
    canonical form the tuple already holds, so ``true`` and ``[1,2]`` match what was given)."""
    kind = type(value)
    text: str
    if kind is str:
        text = str(value)
    elif kind is bool:
        text = "true" if value else "false"
    elif kind is int or kind is float:
        text = repr(value)  # what json.dumps writes for a finite number, without its cost
    elif value is None:
        text = "null"
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text) <= TEXT_LIMIT:
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float: found by its text, not by range
        return None


def param_rows(params: Mapping[str, Any]) -> list[ParamRow]:
    rows = list(_leaves(params, ""))
    if len({(r.key, r.text) for r in rows}) != len(rows):  # two spellings of one key
        rows = list(dict.fromkeys(rows))
    return rows


def _leaves(params: Mapping[str, Any], prefix: str) -> Iterator[ParamRow]:
    for key, value in params.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, f"{path}.")
        else:
            if len(path) <= KEY_LIMIT:
                yield ParamRow(path, as_number(value), as_text(value))


def version_param_rows(version_id: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``version_params`` rows of one version."""
    return [
        {"version_id": version_id, "key": r.key, "num": r.num, "text": r.text}
        for r in param_rows(params)
    ]


def metric_rows(
    result_id: str, subject_id: str, eval_set_id: str, metrics: Mapping[str, float]
) -> list[dict[str, Any]]:
    """``eval_metrics`` rows of one eval result, one per metric (a name longer than the
    column's width is not indexed: search cannot name it)."""
    return [
        {
            "result_id": result_id,
            "metric": name,
            "eval_set_id": eval_set_id,
            "subject_id": subject_id,
            "value": float(value),
        }
        for name, value in sorted(metrics.items())
        if len(name) <= KEY_LIMIT
    ]
