"""Routing policies per environment: every revision kept, the newest one in force.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from modelledger.ledger import triggers

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "env_routes",
        sa.Column("env", sa.String(128), sa.ForeignKey("environments.name"), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("base_id", sa.String(70), nullable=False),
        sa.Column("policy_json", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("set_by", sa.String(256), nullable=False),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
    )
    for statement in triggers.install_sql(op.get_bind().dialect.name, "env_routes"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("env_routes")
