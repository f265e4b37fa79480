"""Transformation lineage and dataset card revisions.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from modelledger.ledger import triggers

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(70)
TIME = sa.String(32)
TABLES = ("transforms", "transform_inputs", "dataset_cards")


def upgrade() -> None:
    op.create_table(
        "transforms",
        sa.Column("id", ID, primary_key=True),
        sa.Column("output_id", ID, sa.ForeignKey("snapshots.id"), nullable=False, index=True),
        sa.Column("step", sa.Text, nullable=False),
        sa.Column("record_json", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
    )
    op.create_table(
        "transform_inputs",
        sa.Column("transform_id", ID, sa.ForeignKey("transforms.id"), primary_key=True),
        sa.Column("input_id", ID, sa.ForeignKey("snapshots.id"), primary_key=True, index=True),
    )
    op.create_table(
        "dataset_cards",
        sa.Column("snapshot_id", ID, sa.ForeignKey("snapshots.id"), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("card_json", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("author", sa.String(256), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        for statement in triggers.install_sql(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
