"""Leakage proof: do any rows (or keys) of an eval snapshot also appear in training snapshots?"""

from __future__ import annotations

from typing import Any

from modelledger.core.errors import InvalidInput
from modelledger.data.manifest import Snapshot
from modelledger.data.snapshot import get_snapshot
from modelledger.data.tables import LocalTables, TabularFile, tabular_files
from modelledger.ledger.home import Ledger


def _tables_of(ledger: Ledger, snap: Snapshot) -> list[TabularFile]:
    found = tabular_files(snap.id, ledger.blobs.get_tree(snap.tree_sha256))
    if not found:
        raise InvalidInput(f"{snap.id} ({snap.name}) holds no CSV or Parquet files to compare")
    return found


def leakage(
    ledger: Ledger,
    eval_ref: str,
    train_refs: list[str],
    *,
    key: list[str] | None = None,
    columns: list[str] | None = None,
    sample: int = 5,
) -> dict[str, Any]:
    from modelledger.tabular import overlap

    if not train_refs:
        raise InvalidInput("give at least one --train snapshot")
    evals = get_snapshot(ledger, eval_ref)
    trains = [get_snapshot(ledger, ref) for ref in train_refs]
    with LocalTables(ledger) as local:
        eval_tables = [local.table(f, f"eval:{f.entry.path}") for f in _tables_of(ledger, evals)]
        train_tables = [
            local.table(f, f"train {t.name}:{f.entry.path}")
            for t in trains
            for f in _tables_of(ledger, t)
        ]
        found = overlap(eval_tables, train_tables, key=key, columns=columns, sample=sample)
    result = found.to_json()
    return {
        "eval": {"id": evals.id, "name": evals.name},
        "train": [{"id": t.id, "name": t.name} for t in trains],
        "leak": result["overlapping_rows"] > 0,
        **result,
    }
