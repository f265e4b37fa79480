"""The inference log: predictions (served and shadow), their Parquet feature segments, and the
feedback (ground truth) that arrives later. All three are append-only.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from modelledger.ledger import triggers

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.String(70)
TIME = sa.String(32)
ENV = sa.String(128)
USER = sa.String(256)
REQUEST_ID = sa.String(128)
TABLES = ("predictions", "prediction_segments", "feedback")


def upgrade() -> None:
    # Key (request_id, mode, version_id): a served answer and its shadows share the request id.
    op.create_table(
        "predictions",
        sa.Column("request_id", REQUEST_ID, primary_key=True),
        sa.Column("mode", sa.String(8), primary_key=True),
        sa.Column("version_id", ID, primary_key=True),
        sa.Column("env", ENV, nullable=False),
        sa.Column("system_id", ID),
        sa.Column("arm", sa.String(128)),
        sa.Column("served_at", TIME, nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("output_json", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float),
        sa.Column("latency_ms", sa.Float),
        sa.Column("segment_id", sa.String(64)),
        # SQLite: the rows live in the primary-key B-tree itself, not in a rowid table beside it
        # (one B-tree less to write per prediction: ingest is the hot path).
        sqlite_with_rowid=False,
    )
    # windows of one environment's traffic (drift, comparisons); a served_at-only index would
    # cost every insert for queries nobody makes without an environment
    op.create_index("ix_predictions_env_served_at", "predictions", ["env", "served_at"])
    op.create_table(
        "prediction_segments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("env", ENV, nullable=False),
        sa.Column("first_served_at", TIME, nullable=False),
        sa.Column("last_served_at", TIME, nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", USER, nullable=False),
    )
    op.create_index(
        "ix_prediction_segments_env_last", "prediction_segments", ["env", "last_served_at"]
    )
    op.create_table(
        "feedback",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("request_id", REQUEST_ID, nullable=False),
        sa.Column("label_json", sa.Text),
        sa.Column("was_correct", sa.Boolean),
        sa.Column("failure_cluster", sa.String(128)),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("received_by", USER, nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
    )
    op.create_index("ix_feedback_request_id", "feedback", ["request_id"])
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        for statement in triggers.install_sql(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("prediction_segments")
    op.drop_table("predictions")
