"""Rows bound to the chain: the inference log's rows name their batch's event, and the rows
written before this revision are bound all at once by a ``ledger.bound`` event.

From here on each event carries the digests of the rows its transaction wrote (ledger/binding.py)
and each batch of predictions a Merkle root. Rows already in the ledger have no such event: the
one appended here records, per table, one digest over all of them, so ``audit verify`` can tell
them from rows added later behind the ledger's back (it cannot say which old row changed, only
that one did).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from modelledger.core.canonical import canonical_json
from modelledger.core.clock import format_time
from modelledger.core.events import Link, new_event
from modelledger.core.rows import table_digest
from modelledger.ledger.binding import BOUND
from modelledger.ledger.row_check import log_batches, table_groups

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("predictions", sa.Column("event_seq", sa.BigInteger()))
    conn = op.get_bind()
    tables = {}
    for name, bound in sorted(BOUND.items()):
        groups = list(table_groups(conn, bound))
        if groups:
            tables[name] = {
                "groups": len(groups),
                "rows": sum(n for _, _, n in groups),
                "digest": table_digest((key, digest) for key, digest, _ in groups),
            }
    logged = log_batches(conn).get(None)
    if logged is not None:
        tables["predictions"] = {"rows": logged[1], "root": logged[0].hex()}
    if not tables:
        return  # a new ledger: every row it will hold is bound by its own event
    from datetime import UTC, datetime

    head = conn.execute(sa.text("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")).first()
    payload = {"reason": "rows written before rows were bound to events", "tables": tables}
    at = format_time(datetime.now(UTC))
    event = new_event(
        Link(head[0], head[1]) if head else None, "ledger.bound", "ledger", "mledger", at, payload
    )
    conn.execute(
        sa.text(
            "INSERT INTO events (seq, kind, subject, actor, at, payload_json, prev_hash, hash) "
            "VALUES (:seq, :kind, :subject, :actor, :at, :payload, :prev, :hash)"
        ),
        {
            "seq": event.seq,
            "kind": event.kind,
            "subject": event.subject,
            "actor": event.actor,
            "at": event.at,
            "payload": canonical_json(event.payload).decode("utf-8"),
            "prev": event.prev_hash,
            "hash": event.hash,
        },
    )


def downgrade() -> None:
    op.drop_column("predictions", "event_seq")
