"""Initial ledger: snapshots, model versions, card revisions, hash-chained events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from modelledger.ledger import triggers

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(70)
TIME = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, index=True),
        sa.Column("tree_sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("file_count", sa.Integer, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("tuple_json", sa.Text, nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("parent_id", ID, sa.ForeignKey("model_versions.id")),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("registered_by", sa.String(256), nullable=False),
        sa.Column("loader", sa.Text),
        sa.Column("irreproducible_reason", sa.Text),
        sa.Column("manifest_json", sa.Text, nullable=False),
        sa.UniqueConstraint("name", "number", name="uq_model_versions_name_number"),
    )
    op.create_table(
        "version_data",
        sa.Column("version_id", ID, sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column("snapshot_id", ID, sa.ForeignKey("snapshots.id"), primary_key=True, index=True),
        sa.Column("role", sa.String(16), primary_key=True),
    )
    op.create_table(
        "card_revisions",
        sa.Column("version_id", ID, sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("card_json", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("author", sa.String(256), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(64), nullable=False, index=True),
        sa.Column("subject", sa.String(256), nullable=False, index=True),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("payload_json", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    for statement in triggers.function_sql(dialect):
        op.execute(statement)
    for table in ("snapshots", "model_versions", "version_data", "card_revisions", "events"):
        for statement in triggers.install_sql(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    for table in ("events", "card_revisions", "version_data", "model_versions", "snapshots"):
        op.drop_table(table)
