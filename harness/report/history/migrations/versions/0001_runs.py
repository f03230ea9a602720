"""runs, their test results, findings, causes and facts

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _child() -> list[sa.Column[int]]:
    """The id and run_id every table but `runs` starts with."""
    return [sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                      nullable=False)]


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("lab", sa.String(200), nullable=False),
        sa.Column("inventory", sa.String(1000), nullable=True),
        sa.Column("backend", sa.String(20), nullable=False),
        sa.Column("scenarios", sa.JSON(), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("report_dir", sa.String(1000), nullable=True),
        sa.Column("has_causes", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_runs_lab", "runs", ["lab"])
    op.create_index("ix_runs_started", "runs", ["started"])
    op.create_table(
        "results", *_child(),
        sa.Column("test", sa.String(1000), nullable=False),
        sa.Column("layer", sa.String(50), nullable=False),
        sa.Column("incident", sa.String(8), nullable=True),
        sa.Column("subject", sa.String(300), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
    )
    op.create_index("ix_results_run_id", "results", ["run_id"])
    op.create_table(
        "findings", *_child(),
        sa.Column("ref", sa.String(20), nullable=True),
        sa.Column("incident", sa.String(8), nullable=False),
        sa.Column("check", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("fix", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
    )
    op.create_index("ix_findings_run_id", "findings", ["run_id"])
    op.create_table(
        "causes", *_child(),
        sa.Column("cause_id", sa.String(20), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("incident", sa.String(8), nullable=True),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("layer", sa.String(50), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("explains", sa.JSON(), nullable=False),
        sa.Column("evidence_chain", sa.JSON(), nullable=False),
        sa.Column("touches", sa.JSON(), nullable=False),
    )
    op.create_index("ix_causes_run_id", "causes", ["run_id"])
    op.create_table(
        "facts", *_child(),
        sa.Column("layer", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
    )
    op.create_index("ix_facts_run_layer_subject", "facts", ["run_id", "layer", "subject"])


def downgrade() -> None:
    for table in ("facts", "causes", "findings", "results", "runs"):
        op.drop_table(table)
