"""Diffing two snapshots: which files changed, and for tables what changed inside them, with the
finding that explains a regression (a category that vanished) first."""

from __future__ import annotations

from typing import Any

from modelledger.blobs.tree import Tree
from modelledger.core.errors import InvalidInput
from modelledger.data.snapshot import get_snapshot
from modelledger.data.tables import LocalTables, TabularFile, tabular_files
from modelledger.ledger.home import Ledger

_SEVERITY = {"alert": 0, "warn": 1, "info": 2}


def file_changes(a: Tree, b: Tree) -> dict[str, Any]:
    old = {e.path: e for e in a.entries}
    new = {e.path: e for e in b.entries}
    return {
        "added": [{"path": p, "size": new[p].size} for p in sorted(new.keys() - old.keys())],
        "removed": [{"path": p, "size": old[p].size} for p in sorted(old.keys() - new.keys())],
        "modified": [
            {"path": p, "size_a": old[p].size, "size_b": new[p].size}
            for p in sorted(old.keys() & new.keys())
            if old[p].sha256 != new[p].sha256
        ],
        "unchanged": sum(1 for p in old.keys() & new.keys() if old[p].sha256 == new[p].sha256),
    }


def _pairs(
    a_id: str, a: Tree, b_id: str, b: Tree, tables: list[str]
) -> tuple[list[tuple[TabularFile, TabularFile]], bool]:
    """The table pairs to compare, and whether the snapshots hold any table path in common."""
    ta = {f.entry.path: f for f in tabular_files(a_id, a)}
    tb = {f.entry.path: f for f in tabular_files(b_id, b)}
    if tables:
        if len(tables) > 2:
            raise InvalidInput("--table: give one path (both sides) or two (A's, then B's)")
        path_a, path_b = tables[0], tables[-1]
        for path, side, found, tree in ((path_a, "A", ta, a), (path_b, "B", tb, b)):
            if path not in found:
                what = (
                    "is not a CSV or Parquet file"
                    if any(e.path == path for e in tree.entries)
                    else "is not in it"
                )
                raise InvalidInput(f"--table {path}: {what} (snapshot {side})")
        return [(ta[path_a], tb[path_b])], True
    common = sorted(ta.keys() & tb.keys())
    return [(ta[p], tb[p]) for p in common if ta[p].entry != tb[p].entry], bool(common)


def diff(
    ledger: Ledger,
    ref_a: str,
    ref_b: str,
    *,
    tables: list[str] | None = None,
    key: list[str] | None = None,
    by: list[str] | None = None,
    sample: int = 5,
) -> dict[str, Any]:
    from modelledger.tabular import diff_tables

    snap_a, snap_b = get_snapshot(ledger, ref_a), get_snapshot(ledger, ref_b)
    tree_a = ledger.blobs.get_tree(snap_a.tree_sha256)
    tree_b = ledger.blobs.get_tree(snap_b.tree_sha256)
    pairs, common = _pairs(snap_a.id, tree_a, snap_b.id, tree_b, tables or [])
    results = []
    with LocalTables(ledger) as local:
        for fa, fb in pairs:
            d = diff_tables(
                local.table(fa, f"A:{fa.entry.path}"),
                local.table(fb, f"B:{fb.entry.path}"),
                key=key or None,
                by=by or None,
                sample=sample,
            ).to_json()
            results.append({"path_a": fa.entry.path, "path_b": fb.entry.path, **d})
    findings = [{"table": t["path_b"], **f} for t in results for f in t.get("findings", [])]
    # Across tables too, a vanished category leads: it is the regression people come to find.
    findings.sort(key=lambda f: (f["kind"] != "category_vanished", _SEVERITY.get(f["severity"], 3)))
    note = None
    if not pairs:
        note = (
            "the tables both snapshots hold are identical"
            if common
            else "no tabular files in common: only file-level differences (use --table to pair "
            "files with different paths)"
        )
        if (key or by) and not common:
            raise InvalidInput(f"--key/--by need a table to compare, but {note}")
    return {
        "a": {"id": snap_a.id, "name": snap_a.name},
        "b": {"id": snap_b.id, "name": snap_b.name},
        "identical": snap_a.id == snap_b.id,
        "files": file_changes(tree_a, tree_b),
        "findings": findings,
        "tables": results,
        "note": note,
    }
