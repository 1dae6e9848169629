"""Run status ``cancelled``: a run stopped at a safe point by SIGTERM (smprod.ops.runs).

Revision ID: runs_0002
Revises: runs_0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "runs_0002"
down_revision = "runs_0001"
branch_labels = None
depends_on = None

OLD = "status IN ('running', 'succeeded', 'failed', 'skipped')"
NEW = "status IN ('running', 'succeeded', 'failed', 'skipped', 'cancelled')"


def upgrade() -> None:
    op.drop_constraint("run_status", "production_runs", type_="check")
    op.create_check_constraint("run_status", "production_runs", NEW)


def downgrade() -> None:
    op.execute("UPDATE production_runs SET status = 'failed' WHERE status = 'cancelled'")
    op.drop_constraint("run_status", "production_runs", type_="check")
    op.create_check_constraint("run_status", "production_runs", OLD)
