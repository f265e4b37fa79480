"""What ``model search`` filters on: hyperparameters and metrics one row per key, indexes on
time; and labels outside the tuple (tags, a description), changed by events.
The two index tables are filled from the rows already there, so an older ledger searches alike.

Revision ID: 0008
Revises: 0007
"""

import json

import sqlalchemy as sa
from alembic import op

from modelledger.core.search_index import metric_rows, version_param_rows
from modelledger.ledger import triggers

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.String(70)
TIME = sa.String(32)
USER = sa.String(256)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_index("ix_model_versions_created_at", "model_versions", ["created_at", "id"])
    op.create_index(
        "ix_model_versions_name_created_at", "model_versions", ["name", "created_at", "id"]
    )
    op.create_index(
        "ix_version_data_snapshot_version", "version_data", ["snapshot_id", "version_id"]
    )
    op.drop_index("ix_version_data_snapshot_id", "version_data")  # the new one leads with it
    params = op.create_table(
        "version_params",
        sa.Column("version_id", ID, sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("text", sa.String(300), primary_key=True),
        sa.Column("num", sa.Float),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_version_params_key_num_text", "version_params", ["key", "num", "text", "version_id"]
    )
    metrics = op.create_table(
        "eval_metrics",
        sa.Column("result_id", ID, sa.ForeignKey("eval_results.id"), primary_key=True),
        sa.Column("metric", sa.String(256), primary_key=True),
        sa.Column("eval_set_id", ID, nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_eval_metrics_set_metric_value",
        "eval_metrics",
        ["eval_set_id", "metric", "value", "subject_id"],
    )
    op.create_index(
        "ix_eval_metrics_subject", "eval_metrics", ["subject_id", "eval_set_id", "metric", "value"]
    )
    op.create_table(
        "version_tags",
        sa.Column("version_id", ID, sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(512), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("set_by", USER, nullable=False),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_version_tags_key_value", "version_tags", ["key", "value", "version_id"])
    op.create_table(
        "version_descriptions",
        sa.Column("version_id", ID, sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("set_by", USER, nullable=False),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, tuple_json FROM model_versions")).all()
    param_rows = [
        r for vid, tup in rows for r in version_param_rows(vid, json.loads(tup)["params"])
    ]
    if param_rows:
        op.bulk_insert(params, param_rows)
    results = conn.execute(
        sa.text("SELECT id, subject_id, eval_set_id, metrics_json FROM eval_results")
    ).all()
    metric_list = [
        r for rid, sub, es, m in results for r in metric_rows(rid, sub, es, json.loads(m))
    ]
    if metric_list:
        op.bulk_insert(metrics, metric_list)
    for table in ("version_params", "eval_metrics"):
        for statement in triggers.install_sql(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    for table in ("version_descriptions", "version_tags", "eval_metrics", "version_params"):
        op.drop_table(table)
    op.create_index("ix_version_data_snapshot_id", "version_data", ["snapshot_id"])
    op.drop_index("ix_version_data_snapshot_version", "version_data")
    op.drop_index("ix_model_versions_name_created_at", "model_versions")
    op.drop_index("ix_model_versions_created_at", "model_versions")
