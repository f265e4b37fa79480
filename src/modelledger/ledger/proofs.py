"""Checkpoints of the event log and proofs against them (``audit checkpoint``, ``audit prove``).

A proof document holds everything its check needs, so that ``python -m modelledger.verify`` checks
it without the database: the signed checkpoint(s), the event (or prediction row) proved, and the
O(log n) path of RFC 6962 hashes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from modelledger.core import checkpoint as cp
from modelledger.core import merkle
from modelledger.core.errors import InvalidInput, NotFound
from modelledger.ledger import events, keys
from modelledger.ledger.binding import LOG, LOG_KEY
from modelledger.ledger.home import Ledger, now
from modelledger.ledger.row_check import read_rows, select_sql
from modelledger.ledger.schema import events as events_table

PROOF = "mledger-proof/1"


def leaves(conn: Connection, size: int | None = None) -> list[bytes]:
    q = select(events_table.c.hash).order_by(events_table.c.seq)
    if size is not None:
        q = q.limit(size)
    leaf = merkle.leaf_hash
    return [leaf(bytes.fromhex(h)) for h in conn.execute(q).scalars()]


def _record_key(ledger: Ledger, public: str) -> None:
    """The ledger.key event naming the key, once: ``audit verify`` trusts the keys it names."""
    with ledger.db.read() as conn:
        named = [
            e.payload.get("public_key") for e in events.listing(conn, kind="ledger.key", limit=None)
        ]
    if public in named:
        return
    with ledger.db.write() as conn:
        events.append(
            conn, "ledger.key", "ledger", ledger.user, now(),
            {"public_key": public, "fingerprint": cp.fingerprint(public)},
        )  # fmt: skip


def signing_key(ledger: Ledger, key_file: Path | None) -> Any:
    return keys.load(key_file or keys.key_path(ledger.config.home))


def take(ledger: Ledger, key_file: Path | None = None) -> dict[str, Any]:
    """A signed checkpoint of the log as it is now."""
    private = signing_key(ledger, key_file)
    public = cp.public_key_text(private)
    _record_key(ledger, public)
    with ledger.db.read() as conn:
        all_leaves = leaves(conn)
        first = conn.execute(
            select(events_table.c.hash).order_by(events_table.c.seq).limit(1)
        ).scalar()
        head = conn.execute(
            select(events_table.c.hash).order_by(events_table.c.seq.desc()).limit(1)
        ).scalar()
    statement = cp.Checkpoint(
        ledger=first or "",
        size=len(all_leaves),
        root=merkle.root_of(all_leaves).hex(),
        head=head or "",
        at=now(),
        key=public,
    )
    return cp.sign(statement, private)


def read_checkpoint(document: Any, where: str) -> cp.Checkpoint:
    try:
        return cp.read(document)
    except cp.CheckpointError as exc:
        raise InvalidInput(f"{where}: {exc}") from None


def inclusion(
    ledger: Ledger, seq: int, against: dict[str, Any] | None, key_file: Path | None = None
) -> dict[str, Any]:
    """Proof that event ``seq`` is in the log a checkpoint signed (a new one when none given)."""
    doc = against or take(ledger, key_file)
    point = read_checkpoint(doc, "checkpoint")
    if not 1 <= seq <= point.size:
        raise NotFound(f"event {seq} is not among the checkpoint's {point.size} events")
    with ledger.db.read() as conn:
        tree = leaves(conn, point.size)
        event = _event(conn, seq)
    if merkle.root_of(tree).hex() != point.root:
        raise InvalidInput(
            "the ledger no longer matches this checkpoint: run `mledger audit verify`"
        )
    return {
        "format": PROOF,
        "type": "inclusion",
        "checkpoint": doc,
        "event": event,
        "index": seq - 1,
        "path": [h.hex() for h in merkle.inclusion_proof(tree, seq - 1)],
    }


def _event(conn: Connection, seq: int) -> dict[str, Any]:
    import json

    row = conn.execute(select(events_table).where(events_table.c.seq == seq)).first()
    if row is None:
        raise NotFound(f"no event {seq}")
    return {
        "seq": row.seq,
        "kind": row.kind,
        "subject": row.subject,
        "actor": row.actor,
        "at": row.at,
        "payload": json.loads(row.payload_json),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def consistency(
    ledger: Ledger,
    old: dict[str, Any],
    new: dict[str, Any] | None,
    key_file: Path | None = None,
) -> dict[str, Any]:
    """Proof that the log a later checkpoint signed extends the one an earlier checkpoint signed."""
    new = new or take(ledger, key_file)
    first, second = read_checkpoint(old, "--from"), read_checkpoint(new, "--to")
    if first.size > second.size:
        raise InvalidInput(
            f"--from holds {first.size} events, more than --to's {second.size}: swap them"
        )
    with ledger.db.read() as conn:
        tree = leaves(conn, second.size)
    if len(tree) < second.size or merkle.root_of(tree).hex() != second.root:
        raise InvalidInput("the ledger no longer matches --to: run `mledger audit verify`")
    if merkle.root_of(tree[: first.size]).hex() != first.root:
        raise InvalidInput("the ledger no longer matches --from: run `mledger audit verify`")
    path = merkle.consistency_proof(tree, first.size) if first.size else []
    return {
        "format": PROOF,
        "type": "consistency",
        "old": old,
        "new": new,
        "path": [h.hex() for h in path],
    }


def prediction(
    ledger: Ledger,
    request_id: str,
    against: dict[str, Any] | None,
    key_file: Path | None = None,
) -> dict[str, Any]:
    """Proof that a logged prediction is one of its batch's rows, and its batch's event one of
    the checkpoint's: the row's leaf → the batch's root (in the event) → the checkpoint's root."""
    with ledger.db.read() as conn:
        collate = ' COLLATE "C"' if conn.dialect.name == "postgresql" else ""
        mark = "?" if conn.dialect.name == "sqlite" else "%s"
        cols = ", ".join(f'"{c}"' for c in LOG.columns)
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        cur.execute(f"SELECT {cols} FROM predictions WHERE request_id = {mark}", (request_id,))
        found = cur.fetchall()
        cur.close()
    if not found:
        raise NotFound(f"no prediction with request id {request_id!r} is logged")
    served = [r for r in found if r[1] == "served"] or found
    values = LOG.read(served[0])
    seq = values[LOG.group[0]]
    if seq is None:
        raise InvalidInput(
            f"{request_id} was logged before rows were bound to events: its batch has no root"
        )
    with ledger.db.read() as conn:
        batch = [
            LOG.read(r)
            for r in read_rows(
                conn,
                select_sql(LOG, tuple(range(LOG_KEY)), collate).replace(
                    "ORDER BY", f'WHERE "event_seq" = {int(seq)} ORDER BY'
                ),
            )
        ]
    from modelledger.core.rows import row_leaf

    row_leaves = [row_leaf("predictions", r) for r in batch]
    index = batch.index(values)
    proof = inclusion(ledger, int(seq), against, key_file)
    return {
        **proof,
        "type": "prediction",
        "row": {"columns": list(LOG.columns), "values": list(values)},
        "row_index": index,
        "row_count": len(batch),
        "row_path": [h.hex() for h in merkle.inclusion_proof(row_leaves, index)],
    }
