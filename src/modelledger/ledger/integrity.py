"""``audit verify``: the whole ledger against its events, and the events against checkpoints.

What is checked: the hash chain; every bound table's rows against the digests their events
recorded (and the rows written before binding against the ``ledger.bound`` event); each batch
of the inference log against its Merkle root; content-addressed ids re-derived from their rows
(recipes given by the capabilities that define them); the mutable tables (environment pointers,
tags, descriptions) replayed from the events; and each checkpoint given: its signature, its key,
and that the log's first ``size`` events still have the root it signed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.engine import Connection

from modelledger.core import merkle
from modelledger.core.checkpoint import Checkpoint
from modelledger.core.rows import table_digest
from modelledger.ledger import schema, table_pass
from modelledger.ledger.binding import BOUND
from modelledger.ledger.chain_walk import Walk, Watched, has_events_table, walk
from modelledger.ledger.home import Ledger
from modelledger.ledger.row_check import (
    IdRecipe,
    id_mismatches,
    log_batches,
    read_rows,
    table_groups,
)
from modelledger.ledger.table_pass import TablePass

Advance = Callable[[int], None]


@dataclass(frozen=True)
class Damage:
    kind: str  # chain, row-changed, row-unbound, rows-missing, log-…, id-mismatch, …-state, checkpoint
    where: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "where": self.where, "detail": self.detail}


@dataclass
class Integrity:
    events: int = 0
    head: str = ""
    root: str = ""
    ledger: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    predictions: int = 0
    legacy_seq: int | None = None
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damage

    def first_of_each(self) -> list[tuple[Damage, int]]:
        """The first damage of each kind, with how many of that kind there are."""
        seen: dict[str, list[Any]] = {}
        for d in self.damage:
            if d.kind in seen:
                seen[d.kind][1] += 1
            else:
                seen[d.kind] = [d, 1]
        return [(d, n) for d, n in seen.values()]


def total_rows(ledger: Ledger) -> int:
    """Events and rows to read: the progress bar's total."""
    from sqlalchemy import func

    with ledger.db.read() as conn:
        if not has_events_table(conn):
            return 0
        tables = [schema.events, schema.predictions, *(b.table for b in BOUND.values())]
        return sum(
            int(conn.execute(select(func.count()).select_from(t)).scalar() or 0) for t in tables
        )


# from this many rows on, the tables are read in a second process beside the chain walk
PARALLEL_ROWS = 200_000


class EventCheck(Protocol):
    """A check over whole events of some kinds, which a higher capability knows how to judge
    (signed approvals, say): (kind, where, detail) for each problem found."""

    kinds: frozenset[str]

    def __call__(self, events: list[Watched], ledger: str | None) -> list[tuple[str, str, str]]:
        """``ledger``: the first event's hash, which names the ledger."""


def verify_ledger(
    ledger: Ledger,
    recipes: Sequence[IdRecipe] = (),
    checkpoints: Sequence[Checkpoint] = (),
    trusted_keys: Iterable[str] = (),
    advance: Advance | None = None,
    parallel: bool | None = None,
    total: int | None = None,
    checks: Sequence[EventCheck] = (),
) -> Integrity:
    """``parallel``: read the tables in a worker process (default: when the ledger holds
    ``total`` rows or more, counted when not given, and the machine has a second core)."""
    out = Integrity()
    if parallel is None:
        many = (total if total is not None else total_rows(ledger)) >= PARALLEL_ROWS
        parallel = many and (os.cpu_count() or 1) > 1
    worker = _start(ledger.config.db_url, recipes) if parallel else None
    try:
        with ledger.db.read(consistent=True) as conn:
            if not has_events_table(conn):
                out.damage.append(Damage("events-missing", "events", "the events table is gone"))
                return out
            watch = frozenset().union(*(c.kinds for c in checks))
            w = walk(conn, {c.size for c in checkpoints}, advance, watch)
            out.events, out.head, out.root = w.count, w.head, w.root().hex()
            out.ledger, out.legacy_seq = w.first, w.legacy_seq
            if w.broken is not None:
                out.damage.append(Damage("chain", f"event {w.broken[0]}", w.broken[1]))
            for table, key, seq in w.twice:
                out.damage.append(
                    Damage("bound-twice", f"{table} {key}", f"event {seq} binds it differently")
                )
            _environments(conn, w, out)
            _labels(conn, w, out)
            for check in checks:
                out.damage.extend(Damage(*found) for found in check(w.watched, w.first))
            summary = _finish(worker, advance)
            for recipe in recipes:
                if summary is None or summary.ids.get(recipe.table) != 0:
                    _ids(conn, recipe, out)  # named here, in this snapshot
            _tables(conn, w, out, advance, summary)
            _log(conn, w, out, advance, summary.log if summary else None)
    finally:
        if worker is not None:
            # done: joined here, else the pool's exit hook may write to a pipe already closed
            done = worker[1].done()
            worker[0].shutdown(wait=done, cancel_futures=not done)
    _checkpoints(w, checkpoints, {*trusted_keys, *w.keys}, out)
    return out


def _start(db_url: str, recipes: Sequence[IdRecipe]) -> tuple[Executor, Future[TablePass]]:
    import multiprocessing

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    return pool, pool.submit(table_pass.run, db_url, tuple(recipes))


def _finish(
    worker: tuple[Executor, Future[TablePass]] | None, advance: Advance | None
) -> TablePass | None:
    """The worker's summary; None (the tables are read here instead) when it has none."""
    if worker is None:
        return None
    try:
        summary = worker[1].result()
    except Exception:  # e.g. no process could be started here
        return None
    if advance is not None:
        advance(summary.rows)
    return summary


def _tables(
    conn: Connection, w: Walk, out: Integrity, advance: Advance | None, summary: TablePass | None
) -> None:
    legacy = (w.legacy or {}).get("tables", {})
    for name, bound in sorted(BOUND.items()):
        expected = dict(w.bound.get(name, {}))
        if summary is not None and name not in legacy:
            count, summed = summary.tables[name]
            if summed == table_digest((k, d) for k, (d, _) in expected.items()):
                out.rows[name] = count  # exactly the groups the events bound
                continue
        unbound: list[tuple[str, str]] = []
        unbound_rows = rows = 0
        for key, digest, n in table_groups(conn, bound, advance):
            rows += n
            found = expected.pop(key, None)
            if found is None:
                unbound.append((key, digest))
                unbound_rows += n
            elif found[0] != digest:
                out.damage.append(
                    Damage(
                        "row-changed",
                        f"{name} {key}",
                        f"its rows differ from what event {found[1]} recorded",
                    )
                )
        out.rows[name] = rows
        for key, (_, seq) in sorted(expected.items(), key=lambda kv: kv[1][1]):
            out.damage.append(
                Damage("rows-missing", f"{name} {key}", f"event {seq} wrote rows that are gone")
            )
        if not unbound:
            if name in legacy:
                out.damage.append(
                    Damage(
                        "rows-missing",
                        name,
                        f"the {legacy[name].get('rows')} rows bound by event {w.legacy_seq} "
                        "(written before binding) are gone",
                    )
                )
            continue
        recorded = legacy.get(name, {}).get("digest")
        if recorded is not None and table_digest(unbound) == recorded:
            continue  # written before rows were bound, and unchanged since
        first = unbound[0][0]
        detail = (
            f"{unbound_rows} row(s) in {len(unbound)} group(s) that no event wrote"
            if recorded is None
            else f"rows written before binding (event {w.legacy_seq}) or since, which no event "
            f"wrote, do not match: {len(unbound)} group(s) unaccounted for"
        )
        out.damage.append(Damage("row-unbound", f"{name} {first}", detail))


def _log(
    conn: Connection,
    w: Walk,
    out: Integrity,
    advance: Advance | None,
    read: dict[int | None, tuple[bytes, int]] | None = None,
) -> None:
    if read is not None and not _log_differs(w, read):
        out.predictions = sum(n for _, n in read.values())
        return
    batches = log_batches(conn, advance)
    out.predictions = sum(n for _, n in batches.values())
    legacy = (w.legacy or {}).get("tables", {}).get("predictions")
    old = batches.pop(None, None)
    where = "predictions logged before binding"
    if legacy is not None and old is None:
        out.damage.append(
            Damage("log-missing", where, f"the rows event {w.legacy_seq} bound are gone")
        )
    elif legacy is None and old is not None:
        out.damage.append(Damage("log-unbound", where, f"{old[1]} row(s) name no batch"))
    elif legacy is not None and old is not None and old[0].hex() != legacy.get("root"):
        out.damage.append(
            Damage("log-changed", where, f"they no longer have the root event {w.legacy_seq} bound")
        )
    for seq, (root, n) in sorted(batches.items(), key=lambda kv: kv[0] or 0):
        recorded = w.logs.pop(seq, None) if seq is not None else None
        if recorded is None:
            out.damage.append(
                Damage("log-unbound", f"predictions of event {seq}", f"{n} row(s) no batch logged")
            )
        elif recorded[0] != root.hex() or recorded[1] != n:
            out.damage.append(
                Damage(
                    "log-changed",
                    f"predictions of event {seq}",
                    f"{n} row(s) now, {recorded[1]} logged; the batch's Merkle root differs",
                )
            )
    for seq, (_, n) in sorted(w.logs.items()):
        out.damage.append(
            Damage("log-missing", f"predictions of event {seq}", f"all {n} logged row(s) are gone")
        )


def _ids(conn: Connection, recipe: IdRecipe, out: Integrity) -> None:
    for row in id_mismatches(conn, recipe):
        where = f"{recipe.table} {row[0]}"
        out.damage.append(Damage("id-mismatch", where, "the id does not follow from the row"))


def _log_differs(w: Walk, read: dict[int | None, tuple[bytes, int]]) -> bool:
    legacy = (w.legacy or {}).get("tables", {}).get("predictions")
    if (None in read) != (legacy is not None):
        return True
    if legacy is not None and read[None][0].hex() != legacy.get("root"):
        return True
    batches = {seq: (root.hex(), n) for seq, (root, n) in read.items() if seq is not None}
    return batches != w.logs


def _environments(conn: Connection, w: Walk, out: Integrity) -> None:
    envs = schema.environments
    history = schema.env_history
    policies = schema.env_policies
    last_move: dict[str, tuple[str, str]] = {}
    for env, subject, at in conn.execute(
        select(history.c.env, history.c.subject_id, history.c.at).order_by(
            history.c.env, history.c.seq
        )
    ):
        last_move[env] = (subject, at)
    last_policy: dict[str, str] = {}
    for env, sha in conn.execute(
        select(policies.c.env, policies.c.policy_sha256).order_by(
            policies.c.env, policies.c.revision
        )
    ):
        last_policy[env] = sha
    created = dict(w.envs)
    for name, current, since, policy in conn.execute(
        select(envs.c.name, envs.c.current_id, envs.c.since, envs.c.policy_sha256)
    ):
        if created.pop(name, None) is None:
            out.damage.append(
                Damage("env-unrecorded", f"environment {name}", "no event created it")
            )
        move = last_move.get(name)
        if (current, since) != (move or (None, None)):
            live = move[0] if move else "nothing"
            out.damage.append(
                Damage(
                    "env-state",
                    f"environment {name}",
                    f"points at {current or 'nothing'}; its history says {live}",
                )
            )
        if policy != last_policy.get(name):
            out.damage.append(
                Damage(
                    "env-state", f"environment {name}", "its gate policy is not the last one set"
                )
            )
    for name, seq in created.items():
        out.damage.append(
            Damage("rows-missing", f"environment {name}", f"event {seq} created it; it is gone")
        )


def _labels(conn: Connection, w: Walk, out: Integrity) -> None:
    want = {k: v for k, v in w.tags.items() if v[0] is not None}
    for vid, key, value, at, by, seq in read_rows(
        conn, "SELECT version_id, key, value, at, set_by, event_seq FROM version_tags"
    ):
        found = want.pop((vid, key), None)
        if found is None or (value, seq, at, by) != found:
            out.damage.append(
                Damage("tag-state", f"{vid} tag {key}", "differs from the model.tag events")
            )
    for (vid, key), (_, seq, _, _) in want.items():
        out.damage.append(Damage("tag-state", f"{vid} tag {key}", f"set by event {seq}; gone"))
    wanted = {k: v for k, v in w.descriptions.items() if v[0] is not None}
    for vid, text, at, by, seq in read_rows(
        conn, "SELECT version_id, text, at, set_by, event_seq FROM version_descriptions"
    ):
        found = wanted.pop(vid, None)
        if found is None or (text, seq, at, by) != found:
            out.damage.append(
                Damage("description-state", vid, "differs from the model.description events")
            )
    for vid, (_, seq, _, _) in wanted.items():
        out.damage.append(Damage("description-state", vid, f"set by event {seq}; gone"))


def _checkpoints(
    w: Walk, checkpoints: Sequence[Checkpoint], trusted: set[str], out: Integrity
) -> None:
    for c in checkpoints:
        where = f"checkpoint of {c.size} events at {c.at}"
        result: dict[str, Any] = {"size": c.size, "at": c.at, "key": c.fingerprint, "ok": False}
        out.checkpoints.append(result)
        if c.key not in trusted:
            out.damage.append(
                Damage("checkpoint", where, f"signed by key {c.fingerprint}, not the ledger's")
            )
        elif c.ledger != w.first and c.size > 0:
            out.damage.append(Damage("checkpoint", where, "taken of another ledger"))
        elif w.count < c.size:
            out.damage.append(
                Damage("checkpoint", where, f"the log holds {w.count} events: it was truncated")
            )
        elif (w.roots.get(c.size) if c.size else merkle.EMPTY_ROOT) != bytes.fromhex(c.root):
            out.damage.append(
                Damage("checkpoint", where, "the log's first events were rewritten since")
            )
        else:
            result["ok"] = True
