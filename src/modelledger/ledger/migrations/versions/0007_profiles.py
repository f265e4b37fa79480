"""Reference profiles for drift checks: each version's profiles (from its training data or from
served traffic), every one kept; a check uses the newest unless told otherwise.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from modelledger.ledger import triggers

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "version_profiles",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version_id", sa.String(70), nullable=False),
        sa.Column("profile_sha256", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("features", sa.Integer, nullable=False),
        sa.Column("source_key", sa.String(64), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.UniqueConstraint("version_id", "profile_sha256", name="uq_version_profiles"),
    )
    op.create_index("ix_version_profiles_version", "version_profiles", ["version_id", "id"])
    op.create_index("ix_version_profiles_source_key", "version_profiles", ["source_key"])
    for statement in triggers.install_sql(op.get_bind().dialect.name, "version_profiles"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("version_profiles")
