"""Composite systems: a pinned map of named components (models, index snapshots, prompts…).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from modelledger.ledger import triggers

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(70)
TIME = sa.String(32)
TABLES = ("systems", "system_components")


def upgrade() -> None:
    op.create_table(
        "systems",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("components_json", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.UniqueConstraint("name", "number", name="uq_systems_name_number"),
    )
    op.create_table(
        "system_components",
        sa.Column("system_id", ID, sa.ForeignKey("systems.id"), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("ref", sa.String(512), nullable=False, index=True),
    )
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        for statement in triggers.install_sql(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("system_components")
    op.drop_table("systems")
