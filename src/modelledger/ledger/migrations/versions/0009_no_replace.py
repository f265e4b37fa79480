"""SQLite: append-only rows refuse ``INSERT OR REPLACE``, ``REPLACE`` and upserts too.

A REPLACE deletes the row it conflicts with without firing DELETE triggers (unless the
connection turned on recursive triggers, which a raw ``sqlite3`` shell does not), so the
UPDATE/DELETE triggers alone let anyone with the file rewrite a version in place. Each table
that has them gets a BEFORE INSERT trigger refusing a row whose primary key is already there.
PostgreSQL needs nothing: ``ON CONFLICT DO UPDATE`` fires the BEFORE UPDATE trigger.

Not the inference log (``predictions``): a trigger runs once per row, which cost bulk ingest
about two fifths of its speed; its rows are to be bound to their batch's digest instead.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from modelledger.ledger import triggers

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


UNGUARDED = frozenset({"predictions"})


def _append_only(conn: sa.Connection) -> list[str]:
    rows = conn.execute(
        sa.text(
            "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_no_update'"
        )
    )
    return sorted(r[0] for r in rows if r[0] not in UNGUARDED)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for table in _append_only(conn):
        info = conn.execute(sa.text(f"PRAGMA table_info({table})")).all()
        key = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5] > 0]
        op.execute(triggers.no_replace_sql(table, key))


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for table in _append_only(conn):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
