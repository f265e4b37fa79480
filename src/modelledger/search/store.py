"""The query behind ``model search``: every filter a sub-select on an indexed table, the
versions newest first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
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
from modelledger.search.conditions import Condition, Search, name_pattern


@dataclass(frozen=True)
class Query:
    """A search with what it names resolved: ids, and times as ledger timestamps."""

    search: Search
    eval_set_id: str | None
    snapshot_ids: list[list[str]]  # each inner list: one --data, any of these snapshots
    since: str | None
    until: str | None


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


# A sub-select is either scanned for the ids it holds (the filter that drives the query) or
# probed by version id (every other filter). A probe compares ``num + 0``, not ``num``: without
# statistics SQLite would otherwise answer it by scanning the value range of the (key, num)
# index once per version read, instead of a lookup by version id.


def _param(conds: list[Condition], probe: bool) -> Any:
    t = version_params
    num = t.c.num + 0 if probe else t.c.num
    where: list[ColumnElement[bool]] = [t.c.key == conds[0].key]
    for c in conds:
        if c.op is None:
            continue
        if c.numeric:
            where.append(_ordered(num, c))
        elif c.op == "=":  # a value that is not a number equals no number
            where += [t.c.num.is_(None), t.c.text == as_text(c.value)]
        else:
            where.append(t.c.text != as_text(c.value))
    return select(t.c.version_id).where(*where)


def _metric(conds: list[Condition], eval_set_id: str, probe: bool) -> Any:
    t = eval_metrics
    value = t.c.value + 0 if probe else t.c.value
    where = [t.c.eval_set_id == eval_set_id, t.c.metric == conds[0].key]
    where += [_ordered(value, c) for c in conds if c.op is not None]
    return select(t.c.subject_id).where(*where)


def _tag(conds: list[Condition]) -> Any:
    t = version_tags
    where: list[ColumnElement[bool]] = [t.c.key == conds[0].key]
    for c in conds:
        if c.op == "=":
            where.append(t.c.value == c.value)
        elif c.op == "!=":
            where.append(t.c.value != c.value)
    return select(t.c.version_id).where(*where)


def _by_key(conds: list[Condition]) -> list[list[Condition]]:
    """Conditions on one key become one sub-select: a range is one index scan, not two."""
    groups: dict[str, list[Condition]] = {}
    for c in conds:
        groups.setdefault(c.key, []).append(c)
    return list(groups.values())


def _id_sets(q: Query, probe: bool) -> list[tuple[Any, Any]]:
    """One sub-select per filter on another table, with the column holding the version id."""
    sets = [(_param(g, probe), version_params.c.version_id) for g in _by_key(q.search.params)]
    if q.search.metrics:
        assert q.eval_set_id is not None
        sets += [
            (_metric(g, q.eval_set_id, probe), eval_metrics.c.subject_id)
            for g in _by_key(q.search.metrics)
        ]
    elif q.eval_set_id:  # scored on it, whatever the scores
        r = eval_results
        sets.append(
            (select(r.c.subject_id).where(r.c.eval_set_id == q.eval_set_id), r.c.subject_id)
        )
    for any_of in q.snapshot_ids:
        d = version_data
        sets.append((select(d.c.version_id).where(d.c.snapshot_id.in_(any_of)), d.c.version_id))
    sets += [(_tag(g), version_tags.c.version_id) for g in _by_key(q.search.tags)]
    return sets


# Counting a filter's matches stops here: past it a filter is "broad", and the product of the
# filters' shares estimates how far a newest-first scan reads before it has the limit.
COUNT_CAP = 20_000


def find(conn: Connection, q: Query) -> list[Any]:
    """Matching ``model_versions`` rows, newest first, at most ``limit + 1`` (the one more
    tells the caller that there are more)."""
    v = model_versions
    where: list[ColumnElement[bool]] = []
    if q.search.name:
        pattern = name_pattern(q.search.name)
        where.append(v.c.name.like(pattern, escape="\\") if pattern else v.c.name == q.search.name)
    if q.search.registered_by:
        where.append(v.c.registered_by == q.search.registered_by)
    if q.since:
        where.append(v.c.created_at >= q.since)
    if q.until:
        where.append(v.c.created_at < q.until)
    scans, probes = _id_sets(q, probe=False), _id_sets(q, probe=True)
    driver = _driver(conn, [ids for ids, _ in scans], q.search.limit + 1)
    for n, ((ids, _), (probe, column)) in enumerate(zip(scans, probes, strict=True)):
        where.append(v.c.id.in_(ids) if n == driver else probe.where(column == v.c.id).exists())
    newest = (
        select(v.c.id)
        .where(*where)
        .order_by(v.c.created_at.desc(), v.c.id.desc())
        .limit(q.search.limit + 1)
    )
    order = list(conn.execute(newest).scalars())
    rows: dict[str, Any] = {}
    for start in range(0, len(order), 500):  # bounded IN lists, whatever the limit
        chunk = order[start : start + 500]
        rows.update((r.id, r) for r in conn.execute(select(v).where(v.c.id.in_(chunk))))
    return [rows[i] for i in order]


def _driver(conn: Connection, sets: list[Any], wanted: int) -> int | None:
    """Which filter should drive: the one with fewest matches, when reading its ids costs less
    than the newest-first scan is expected to read (filters taken as independent); None for
    the scan."""
    if not sets:
        return None
    sizes = []
    for ids in sets:
        counted = select(func.count()).select_from(ids.limit(COUNT_CAP).subquery())
        sizes.append(int(conn.execute(counted).scalar_one()))
    smallest = min(range(len(sets)), key=sizes.__getitem__)
    if sizes[smallest] >= COUNT_CAP:
        return None
    total = int(conn.execute(select(func.count()).select_from(model_versions)).scalar_one())
    share = 1.0
    for size in sizes:
        share *= min(1.0, size / max(total, 1))
    scanned = total if share == 0 else min(total, wanted / share)
    return smallest if sizes[smallest] < scanned else None


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
