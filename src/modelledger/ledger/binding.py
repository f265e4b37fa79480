"""Binding rows to the chain: each write transaction's new rows are digested as they are
inserted, and the next event appended carries the digests (``payload["bound"]``: table → group
→ digest). ``audit verify`` recomputes them from the rows, so a row edited, deleted, replaced or
added behind the ledger's back no longer matches any event.

Inserts through ``Prepared`` are bound on the way; other inserts go through ``insert_rows``.
The inference log binds its predictions itself (a Merkle root per batch, ``predictions``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Float, Integer, Table, insert
from sqlalchemy.engine import Connection

from modelledger.core import merkle
from modelledger.core.rows import group_digest, group_key, row_text
from modelledger.ledger import schema

# Each bound table and the columns that name a group of its rows written together. A group is
# written by one event; one written again unchanged (a gate policy set twice) is bound again.
GROUPS: dict[str, tuple[str, ...]] = {
    "model_versions": ("id",),
    "version_params": ("version_id",),
    "version_data": ("version_id",),
    "card_revisions": ("version_id", "revision"),
    "snapshots": ("id",),
    "transforms": ("id",),
    "transform_inputs": ("transform_id",),
    "dataset_cards": ("snapshot_id", "revision"),
    "eval_sets": ("snapshot_id",),
    "eval_results": ("id",),
    "eval_metrics": ("result_id",),
    "gate_policies": ("sha256",),
    "env_policies": ("env", "revision"),
    "env_history": ("env", "seq"),
    "systems": ("id",),
    "system_components": ("system_id",),
    "env_routes": ("env", "revision"),
    "version_profiles": ("version_id", "profile_sha256"),
    "prediction_segments": ("id",),
    "feedback": ("received_at", "received_by", "source"),
}
_SURROGATE = {"feedback": "id", "version_profiles": "id"}  # numbered by the database: no content

Normalise = Callable[[Any], Any]


def _normaliser(column: Any) -> Normalise:
    # the value as both drivers read it back: SQLite hands booleans back as 0/1 and may return an
    # integral float as an int
    kind = column.type
    if isinstance(kind, Boolean):
        return bool
    if isinstance(kind, Float):
        return float
    if isinstance(kind, Integer):
        return int
    return str


@dataclass(frozen=True)
class BoundTable:
    table: Table
    columns: tuple[str, ...]  # the content, in the table's order
    normalise: tuple[Normalise, ...]
    group: tuple[int, ...]  # positions of the group columns in ``columns``
    booleans: tuple[int, ...]  # columns SQLite reads back as 0/1

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """An inserted row's values, as the database will read them back."""
        return tuple(
            None if (value := row.get(name)) is None else norm(value)
            for name, norm in zip(self.columns, self.normalise, strict=True)
        )

    def read(self, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        """A row as the driver returned it (columns in order), normalised like ``values``."""
        if not self.booleans:
            return raw
        out = list(raw)
        for i in self.booleans:
            if out[i] is not None:
                out[i] = bool(out[i])
        return tuple(out)

    def key(self, values: Sequence[Any]) -> str:
        group = self.group
        return str(values[group[0]]) if len(group) == 1 else group_key([values[i] for i in group])


def _bound(table: Table, group_by: tuple[str, ...]) -> BoundTable:
    columns = [c for c in table.columns if c.name != _SURROGATE.get(table.name)]
    names = tuple(c.name for c in columns)
    group = tuple(names.index(g) for g in group_by)
    booleans = tuple(i for i, c in enumerate(columns) if isinstance(c.type, Boolean))
    return BoundTable(table, names, tuple(_normaliser(c) for c in columns), group, booleans)


BOUND: dict[str, BoundTable] = {
    name: _bound(schema.metadata.tables[name], group) for name, group in GROUPS.items()
}
# The inference log: a batch's rows are the leaves of a Merkle tree in key order, its root in
# the batch's event (``payload["log"]``), its rows naming the event (``event_seq``).
LOG = _bound(schema.predictions, ("event_seq",))
LOG_KEY = 3  # (request_id, mode, version_id) lead the columns: the primary key, the leaves' order

_PENDING = "mledger.binding.pending"


def _pending(conn: Connection) -> dict[str, dict[str, list[Any]]]:
    txn = conn.get_transaction()
    kept = conn.info.get(_PENDING)
    if kept is None or kept[0] is not txn:
        kept = conn.info[_PENDING] = (txn, {})
    return kept[1]


def bind(conn: Connection, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Digest rows just inserted into ``table`` for the transaction's next event."""
    bound = BOUND.get(table)
    if bound is None:
        return
    groups = _pending(conn).setdefault(table, {})
    for row in rows:
        values = bound.values(row)
        groups.setdefault(bound.key(values), []).append(row_text(values))


def insert_rows(
    conn: Connection, table: Table, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> None:
    """INSERT the rows and bind them."""
    many = [rows] if isinstance(rows, Mapping) else list(rows)
    if not many:
        return
    conn.execute(insert(table), many)
    bind(conn, table.name, many)


def bind_log(conn: Connection, leaves: Iterable[tuple[tuple[str, ...], bytes]]) -> None:
    """(primary key, leaf) of inference-log rows just written, for the next event's tree."""
    _pending(conn).setdefault(LOG.table.name, {}).setdefault("", []).extend(leaves)


def take_log(conn: Connection) -> dict[str, Any] | None:
    """The batch's tree: its size and root, which the next event carries."""
    kept = conn.info.get(_PENDING)
    if kept is None or kept[0] is not conn.get_transaction():
        return None
    groups = kept[1].pop(LOG.table.name, None)
    if not groups:
        return None
    leaves = sorted(groups[""])
    return {"rows": len(leaves), "root": merkle.root_of(leaf for _, leaf in leaves).hex()}


def take(conn: Connection) -> dict[str, dict[str, str]] | None:
    """The digests of the rows written since the last event, which the next event carries."""
    kept = conn.info.get(_PENDING)
    if kept is None or kept[0] is not conn.get_transaction() or not kept[1]:
        return None
    conn.info.pop(_PENDING)
    return {
        table: {key: group_digest(table, texts) for key, texts in sorted(groups.items())}
        for table, groups in sorted(kept[1].items())
    }


def unclaimed(conn: Connection) -> list[str]:
    """Tables with rows written after the transaction's last event: a programming error, since
    no event would vouch for them."""
    kept = conn.info.get(_PENDING)
    if kept is None or kept[0] is not conn.get_transaction():
        return []
    return sorted(kept[1])
