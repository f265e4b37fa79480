"""The tables' half of ``audit verify``, run beside the chain walk in a process of its own on a
large ledger (hashing is bound to one core per process).

It reads every bound table, the inference log and the id recipes' columns, and hands back only
summaries: per table, one digest over its (group, group digest) pairs. The caller compares each
with the same digest over what the events bound; only a table that differs is read again,
inside the caller's own snapshot, to name the damage (so a write that landed between the two
processes' snapshots is never reported as damage).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from modelledger.core.rows import table_digest
from modelledger.ledger.binding import BOUND
from modelledger.ledger.row_check import log_batches, read_rows, table_groups

if TYPE_CHECKING:
    from modelledger.ledger.integrity import IdRecipe


@dataclass(frozen=True)
class TablePass:
    tables: dict[str, tuple[int, str]]  # table → (rows, digest of its (key, digest) pairs)
    log: dict[int | None, tuple[bytes, int]]  # batch event → (Merkle root, rows)
    ids: dict[str, list[str]]  # table → ids that do not follow from their rows
    rows: int


def summarise(conn: Connection, recipes: Sequence[IdRecipe]) -> TablePass:
    tables: dict[str, tuple[int, str]] = {}
    for name, bound in sorted(BOUND.items()):
        groups, count = [], 0
        for key, digest, n in table_groups(conn, bound):
            groups.append((key, digest))
            count += n
        tables[name] = (count, table_digest(groups))
    log = log_batches(conn)
    rows = sum(n for n, _ in tables.values()) + sum(n for _, n in log.values())
    ids = {recipe.table: mismatched_ids(conn, recipe) for recipe in recipes}
    return TablePass(tables, log, ids, rows)


def mismatched_ids(conn: Connection, recipe: IdRecipe) -> list[str]:
    cols = ", ".join(f'"{c}"' for c in recipe.columns)
    matches = recipe.matches
    out = []
    for row in read_rows(conn, f'SELECT {cols} FROM "{recipe.table}"'):
        try:
            ok = matches(*row)
        except Exception:  # a row too damaged to read has no id to match
            ok = False
        if not ok:
            out.append(str(row[0]))
    return out


def run(db_url: str, recipes: Sequence[IdRecipe]) -> TablePass:
    """In the worker process: its own connection, one read transaction."""
    from modelledger.ledger.db import Database

    db = Database(db_url)
    try:
        with db.read(consistent=True) as conn:
            return summarise(conn, recipes)
    finally:
        db.dispose()
