"""``eval stale``: what still needs scoring when an eval set evolves — the newest versions of each
model and everything that was ever live. It belongs to releases because "ever live" is the
environments' history; the command is mounted in the ``eval`` group."""

from __future__ import annotations

from typing import Any

from modelledger.core.errors import InvalidInput, NotFound
from modelledger.data.resolve import resolve_snapshot
from modelledger.evals import store as evals
from modelledger.ledger.home import Ledger
from modelledger.models.store import systems, versions
from modelledger.releases import store as environments


def stale(
    ledger: Ledger, eval_set: str, model: str | None = None, recent: int = 5
) -> dict[str, Any]:
    """Versions lacking a result on ``eval_set``: the ``recent`` newest of each model (or of
    ``model``) and every version that was ever live in any environment."""
    if recent < 0:
        raise InvalidInput("--recent must be 0 or more")
    with ledger.db.read() as conn:
        set_id = resolve_snapshot(conn, eval_set)
        if not evals.is_eval_set(conn, set_id):
            raise InvalidInput(f"{set_id} is not an eval set")
        if model is not None and versions.next_number(conn, model) == 1:
            raise NotFound(f"no model named {model!r}")
        listed = versions.listing(conn, model, limit=None)
        per_model: dict[str, int] = {}
        candidates: dict[str, Any] = {}
        for v in listed:  # newest first
            per_model[v.name] = per_model.get(v.name, 0) + 1
            if per_model[v.name] <= recent:
                candidates[v.id] = (v, "recent")
        live = environments.ever_live(conn)
        for v in versions.get_many(conn, {i for i in live if i.startswith("mv-")}):
            if model is None or v.name == model:
                candidates[v.id] = (v, "was live")
        for system in systems.get_many(conn, {i for i in live if i.startswith("sys-")}):
            if model is None or system.name == model:
                candidates[system.id] = (system, "was live")
        done = evals.scored_on(conn, set_id, candidates)
    todo = [
        {"id": v.id, "label": v.label, "why": why, "created_at": _iso(v.created_at)}
        for vid, (v, why) in candidates.items()
        if vid not in done
    ]
    todo.sort(key=lambda item: (item["why"] != "was live", item["label"]))
    return {"eval_set": set_id, "missing": todo, "scored": len(done), "checked": len(candidates)}


def _iso(moment: Any) -> str:
    return moment if isinstance(moment, str) else str(moment.isoformat())
