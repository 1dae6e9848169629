"""The production run ledger.

Revision ID: runs_0001
Revises: 0001_base
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "runs_0001"
down_revision = "0001_base"
branch_labels = ("runs",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "production_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("day", sa.Date, nullable=False, index=True),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("inputs", JSONB, nullable=False, server_default="{}"),
        sa.Column("input_key", sa.String(64)),
        sa.Column("model_name", sa.String(200)),
        sa.Column("model_version", sa.String(40)),
        sa.Column("stage_seconds", JSONB, nullable=False, server_default="{}"),
        sa.Column("error", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed', 'skipped')", name="run_status"),
    )


def downgrade() -> None:
    op.drop_table("production_runs")
