"""Request ids claimed by serving processes: one answer per client-given request id across every
process serving the ledger, claimed before the answer leaves (serving's ``claims``).

Operational state, not a record: a claim is the lock that keeps a second answer from being given,
while the answer itself is in the inference log. On PostgreSQL the replicas of one environment
share this table; a SQLite ledger keeps its claims in a file of their own beside the
ledger's, where they never wait behind the inference log's writes (one writer per SQLite file).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_claims",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("env", sa.String(128), nullable=False),
        sa.Column("claimed_at", sa.String(32), nullable=False),
        sa.Column("claimed_by", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("request_claims")
