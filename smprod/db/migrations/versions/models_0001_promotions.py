"""Model registry decisions (MLflow keeps no history of alias moves).

Revision ID: models_0001
Revises: 0001_base
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "models_0001"
down_revision = "0001_base"
branch_labels = ("models",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_promotions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_name", sa.String(200), nullable=False, index=True),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("metric", sa.String(40)),
        sa.Column("challenger_value", sa.Float),
        sa.Column("champion_version", sa.String(40)),
        sa.Column("champion_value", sa.Float),
        sa.Column("evaluated_for", sa.Date),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_promotions")
