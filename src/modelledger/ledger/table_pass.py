"""The tables' half of ``audit verify``, run beside the chain walk in a process of its own on a
large ledger (hashing is bound to one core per process).

It reads every bound table, the inference log and the tables with content-addressed ids, and
hands back only summaries: per table, one digest over its (group, group digest) pairs; per id
recipe, how many rows fail it. The caller compares each with the same digest over what the
events bound; only a table that differs (or has a bad id) is read again, inside the caller's
own snapshot, to name the damage (so a write that landed between the two processes' snapshots
is never reported as damage).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from modelledger.core.rows import table_digest
from modelledger.ledger.binding import BOUND
from modelledger.ledger.row_check import IdRecipe, id_mismatches, log_batches, table_groups


@dataclass(frozen=True)
class TablePass:
    tables: dict[str, tuple[int, str]]  # table → (rows, digest of its (key, digest) pairs)
    log: dict[int | None, tuple[bytes, int]]  # batch event → (Merkle root, rows)
    rows: int
    ids: dict[str, int]  # recipe's table → rows whose id does not follow from them


def summarise(conn: Connection, recipes: Sequence[IdRecipe] = ()) -> TablePass:
    tables: dict[str, tuple[int, str]] = {}
    for name, bound in sorted(BOUND.items()):
        groups, count = [], 0
        for key, digest, n in table_groups(conn, bound):
            groups.append((key, digest))
            count += n
        tables[name] = (count, table_digest(groups))
    log = log_batches(conn)
    rows = sum(n for n, _ in tables.values()) + sum(n for _, n in log.values())
    ids = {r.table: sum(1 for _ in id_mismatches(conn, r)) for r in recipes}
    return TablePass(tables, log, rows, ids)


def run(db_url: str, recipes: Sequence[IdRecipe] = ()) -> TablePass:
    """In the worker process: its own connection, one read transaction."""
    from modelledger.ledger.db import Database

    db = Database(db_url)
    try:
        with db.read(consistent=True) as conn:
            return summarise(conn, recipes)
    finally:
        db.dispose()
