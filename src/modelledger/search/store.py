"""The query behind ``model search``: every filter a sub-select on an indexed table, the
versions newest first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.engine import Connection

from modelledger.core.search_index import as_text
from modelledger.ledger.schema import (
    eval_metrics,
    eval_results,
    model_versions,
    version_data,
    version_params,
    version_tags,
)
from modelledger.search.conditions import Condition, name_pattern


@dataclass(frozen=True)
class Query:
    """A search with every reference already resolved to ids."""

    name: str | None
    params: list[Condition]
    metrics: list[Condition]
    eval_set_id: str | None
    snapshot_ids: list[list[str]]  # each inner list: one --data, any of these snapshots
    tags: list[Condition]
    registered_by: str | None
    since: str | None
    until: str | None
    limit: int


def _ordered(column: ColumnElement[Any], c: Condition) -> ColumnElement[bool]:
    value = c.value
    if c.op == "!=":  # a text value has no number: it differs
        return or_(column.is_(None), column != value)
    compare = {
        "=": column.__eq__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }[str(c.op)]
    return compare(value)


def _param(c: Condition) -> Any:
    t = version_params
    where: ColumnElement[bool] = t.c.key == c.key
    if c.op is not None:
        if c.numeric:
            where = and_(where, _ordered(t.c.num, c))
        elif c.op == "=":
            where = and_(where, t.c.text == as_text(c.value))
        else:
            where = and_(where, t.c.text != as_text(c.value))
    return select(t.c.version_id).where(where)


def _metric(c: Condition, eval_set_id: str) -> Any:
    t = eval_metrics
    where = and_(t.c.eval_set_id == eval_set_id, t.c.metric == c.key)
    if c.op is not None:
        where = and_(where, _ordered(t.c.value, c))
    return select(t.c.subject_id).where(where)


def _tag(c: Condition) -> Any:
    t = version_tags
    where: ColumnElement[bool] = t.c.key == c.key
    if c.op == "=":
        where = and_(where, t.c.value == c.value)
    elif c.op == "!=":
        where = and_(where, t.c.value != c.value)
    return select(t.c.version_id).where(where)


def find(conn: Connection, q: Query) -> list[Any]:
    """Matching ``model_versions`` rows, newest first, at most ``q.limit + 1`` (the one more
    tells the caller that there are more)."""
    v = model_versions
    where: list[ColumnElement[bool]] = []
    if q.name:
        pattern = name_pattern(q.name)
        where.append(v.c.name.like(pattern, escape="\\") if pattern else v.c.name == q.name)
    where += [v.c.id.in_(_param(c)) for c in q.params]
    if q.metrics:
        assert q.eval_set_id is not None
        where += [v.c.id.in_(_metric(c, q.eval_set_id)) for c in q.metrics]
    elif q.eval_set_id:  # scored on it, whatever the scores
        scored = select(eval_results.c.subject_id).where(
            eval_results.c.eval_set_id == q.eval_set_id
        )
        where.append(v.c.id.in_(scored))
    for any_of in q.snapshot_ids:
        used = select(version_data.c.version_id).where(version_data.c.snapshot_id.in_(any_of))
        where.append(v.c.id.in_(used))
    where += [v.c.id.in_(_tag(c)) for c in q.tags]
    if q.registered_by:
        where.append(v.c.registered_by == q.registered_by)
    if q.since:
        where.append(v.c.created_at >= q.since)
    if q.until:
        where.append(v.c.created_at < q.until)
    stmt = select(v).where(*where).order_by(v.c.created_at.desc(), v.c.id).limit(q.limit + 1)
    return list(conn.execute(stmt))


def metric_values(
    conn: Connection, eval_set_id: str, metric_names: Iterable[str], version_ids: Iterable[str]
) -> dict[str, dict[str, float]]:
    """version id → metric → value on the eval set, for the shown rows."""
    ids, names = sorted(set(version_ids)), sorted(set(metric_names))
    out: dict[str, dict[str, float]] = {}
    if not ids or not names:
        return out
    t = eval_metrics
    q = select(t.c.subject_id, t.c.metric, t.c.value).where(
        t.c.eval_set_id == eval_set_id, t.c.metric.in_(names), t.c.subject_id.in_(ids)
    )
    for subject, metric, value in conn.execute(q):
        out.setdefault(subject, {})[metric] = value
    return out


def eval_sets_with(conn: Connection, metric: str) -> list[str]:
    """The eval sets some result records ``metric`` on."""
    t = eval_metrics
    q = select(t.c.eval_set_id).where(t.c.metric == metric).distinct()
    return sorted(conn.execute(q).scalars())
