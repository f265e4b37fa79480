"""``model search``: versions by name, hyperparameter, score on an eval set, data, tag,
registrant and time. References are resolved as every command resolves them (``ds-`` prefixes,
eval set and snapshot names); a metric names its eval set, since scores are comparable only on
one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from modelledger.core.errors import InvalidInput, NotFound
from modelledger.core.ids import short
from modelledger.core.search_index import param_rows
from modelledger.core.stats import time_bounds
from modelledger.data.resolve import resolve_snapshot
from modelledger.data.store import snapshots
from modelledger.evals import store as evals
from modelledger.ledger.home import Ledger
from modelledger.models.store import labels
from modelledger.models.version import ModelVersion
from modelledger.search import store
from modelledger.search.conditions import Search


@dataclass(frozen=True)
class Found:
    version: ModelVersion
    params: dict[str, str]  # the keys the search named, as compared (models: search_index)
    metrics: dict[str, float]  # the metrics it named, on its eval set
    tags: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.version.to_json(),
            "matched": {"params": self.params, "metrics": self.metrics},
            "tags": self.tags,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Found:
        matched = data["matched"]
        return cls(
            ModelVersion.from_json(data), matched["params"], matched["metrics"], data["tags"]
        )


@dataclass(frozen=True)
class Results:
    found: list[Found]
    more: bool  # there are matches past the limit
    eval_set: dict[str, str] | None  # the eval set metrics were judged on: id, name
    params: list[str]  # keys to show, in the order asked
    metrics: list[str]

    def to_json(self) -> dict[str, Any]:
        """The whole answer (``model search --json`` prints ``found`` alone)."""
        return {
            "found": [f.to_json() for f in self.found],
            "more": self.more,
            "eval_set": self.eval_set,
            "params": self.params,
            "metrics": self.metrics,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Results:
        found = [Found.from_json(f) for f in data["found"]]
        return cls(found, data["more"], data["eval_set"], data["params"], data["metrics"])


def search(ledger: Ledger, s: Search) -> Results:
    since, until = time_bounds(s.since, s.until, datetime.now(UTC))
    shown_params = list(dict.fromkeys(c.key for c in s.params))
    shown_metrics = list(dict.fromkeys(c.key for c in s.metrics))
    with ledger.db.read() as conn:
        eval_set = _eval_set(conn, s)
        if s.metrics and eval_set is None:  # no result records the metric: nothing can match
            return Results([], False, None, shown_params, shown_metrics)
        query = store.Query(
            search=s,
            eval_set_id=eval_set["id"] if eval_set else None,
            snapshot_ids=[_snapshots(conn, ref) for ref in s.data],
            since=since,
            until=until,
        )
        rows = store.find(conn, query)
        found = [ModelVersion.from_record(r._mapping) for r in rows[: s.limit]]
        ids = [v.id for v in found]
        scores = store.metric_values(conn, eval_set["id"], shown_metrics, ids) if eval_set else {}
        tags = labels.tags_of(conn, ids)
    out = []
    for v in found:
        leaves = {r.key: r.text for r in param_rows(v.tuple.params)}
        out.append(
            Found(
                v,
                {k: leaves[k] for k in shown_params if k in leaves},
                scores.get(v.id, {}),
                tags.get(v.id, {}),
            )
        )
    return Results(out, len(rows) > s.limit, eval_set, shown_params, shown_metrics)


def _eval_set(conn: Connection, s: Search) -> dict[str, str] | None:
    if s.eval_set is not None:
        return _named_eval_set(conn, s.eval_set)
    if not s.metrics:
        return None
    candidates = sorted({e for c in s.metrics for e in store.eval_sets_with(conn, c.key)})
    if not candidates:
        return None
    if len(candidates) > 1:
        names = {e["id"]: e["name"] for e in evals.list_eval_sets(conn)}
        listed = ", ".join(f"{names.get(e, '?')} ({short(e)})" for e in candidates)
        raise InvalidInput(
            f"--metric: {', '.join(sorted({c.key for c in s.metrics}))} is recorded on "
            f"{len(candidates)} eval sets ({listed}): name one with --eval-set; scores are "
            "comparable only on one eval set"
        )
    return {"id": candidates[0], "name": _eval_set_name(conn, candidates[0])}


def _named_eval_set(conn: Connection, ref: str) -> dict[str, str]:
    if ref.startswith("ds-"):
        set_id = resolve_snapshot(conn, ref)
        if not evals.is_eval_set(conn, set_id):
            raise InvalidInput(f"--eval-set {ref}: {short(set_id)} is a snapshot, not an eval set")
        return {"id": set_id, "name": _eval_set_name(conn, set_id)}
    named = evals.list_eval_sets(conn, ref)  # newest first
    if not named:
        known = sorted({e["name"] for e in evals.list_eval_sets(conn)})
        raise NotFound(
            f"--eval-set {ref!r}: no eval set has that name"
            + (f" (eval sets: {', '.join(known)})" if known else " (there are no eval sets yet)")
        )
    return {"id": named[0]["id"], "name": ref}


def _eval_set_name(conn: Connection, set_id: str) -> str:
    return next((e["name"] for e in evals.list_eval_sets(conn) if e["id"] == set_id), "?")


def _snapshots(conn: Connection, ref: str) -> list[str]:
    """A ``ds-`` reference names one snapshot; a name, every snapshot of that name."""
    if ref.startswith("ds-"):
        return [resolve_snapshot(conn, ref)]
    named = [s.id for s in snapshots.listing(conn, ref, None)]
    if not named:
        raise NotFound(f"--data {ref!r}: no snapshot has that id or name")
    return named
