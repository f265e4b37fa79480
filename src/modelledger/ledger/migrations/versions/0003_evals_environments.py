"""Eval sets and results, gate policies, environments and their pointer history.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from modelledger.ledger import triggers

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(70)
TIME = sa.String(32)
ENV = sa.String(128)
USER = sa.String(256)
# environments is the one mutable table here: its pointer moves, and every move is also a history
# row and an event. The others are append-only.
IMMUTABLE = ("eval_sets", "eval_results", "gate_policies", "env_policies", "env_history")


def upgrade() -> None:
    op.create_table(
        "eval_sets",
        sa.Column("snapshot_id", ID, sa.ForeignKey("snapshots.id"), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, index=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", USER, nullable=False),
    )
    op.create_table(
        "eval_results",
        sa.Column("id", ID, primary_key=True),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("eval_set_id", ID, sa.ForeignKey("snapshots.id"), nullable=False, index=True),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.Column("slices_json", sa.Text, nullable=False),
        sa.Column("report_sha256", sa.String(64)),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", USER, nullable=False),
        sa.UniqueConstraint("subject_id", "eval_set_id", name="uq_eval_results_subject_set"),
    )
    op.create_table(
        "gate_policies",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("policy_json", sa.Text, nullable=False),
        sa.Column("source_text", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", USER, nullable=False),
    )
    op.create_table(
        "environments",
        sa.Column("name", ENV, primary_key=True),
        sa.Column("current_id", ID),
        sa.Column("since", TIME),
        sa.Column("policy_sha256", sa.String(64), sa.ForeignKey("gate_policies.sha256")),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "env_policies",
        sa.Column("env", ENV, sa.ForeignKey("environments.name"), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column(
            "policy_sha256", sa.String(64), sa.ForeignKey("gate_policies.sha256"), nullable=False
        ),
        sa.Column("at", TIME, nullable=False),
        sa.Column("set_by", USER, nullable=False),
    )
    op.create_table(
        "env_history",
        sa.Column("env", ENV, sa.ForeignKey("environments.name"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("previous_id", ID),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("requester", USER, nullable=False),
        sa.Column("approvers_json", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("policy_sha256", sa.String(64)),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_env_history_env_at", "env_history", ["env", "at"])
    op.create_index("ix_eval_results_subject", "eval_results", ["subject_id"])
    dialect = op.get_bind().dialect.name
    for table in IMMUTABLE:
        for statement in triggers.install_sql(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    for table in ("env_history", "env_policies", "environments", "gate_policies"):
        op.drop_table(table)
    op.drop_table("eval_results")
    op.drop_table("eval_sets")
