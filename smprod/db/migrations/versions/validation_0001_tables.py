"""Validation: stations, daily in situ means, matchups, metrics and the 30-day summary view.

Revision ID: validation_0001
Revises: 0001_base
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "validation_0001"
down_revision = "0001_base"
branch_labels = ("validation",)
depends_on = None

_STAMP = sa.DateTime(timezone=True)

#: "How did the product do against stations over the last 30 days, compared with SMAP": the
#: newest 30-day metrics of every network and overall, each variant next to coarse SMAP.
SUMMARY_30D = """
CREATE VIEW validation_summary_30d AS
WITH latest AS (
    SELECT max(computed_for) AS day FROM validation_metrics WHERE window_name = '30d'
)
SELECT m.computed_for, m.window_start, m.window_end, m.model_version, m.scope, m.scope_name,
       m.variant, m.n, m.n_stations, m.r, m.r_significant, m.bias, m.rmse, m.ubrmse, m.mae,
       s.ubrmse AS smap_ubrmse, m.ubrmse - s.ubrmse AS ubrmse_minus_smap,
       s.r AS smap_r, m.r - s.r AS r_minus_smap
FROM validation_metrics m
JOIN latest ON m.computed_for = latest.day
LEFT JOIN validation_metrics s
       ON s.scope = m.scope AND s.scope_name = m.scope_name AND s.window_name = m.window_name
      AND s.model_version = m.model_version AND s.computed_for = m.computed_for
      AND s.variant = 'smap'
WHERE m.window_name = '30d' AND m.scope IN ('overall', 'network')
"""


def upgrade() -> None:
    """Create the validation tables and view; one statement list because a migration is the
    record of the schema its revision applied, read top to bottom and never refactored."""
    op.create_table(
        "stations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_key", sa.String(300), nullable=False, unique=True),
        sa.Column("network", sa.String(100), nullable=False, index=True),
        sa.Column("station", sa.String(100), nullable=False),
        sa.Column("sensor", sa.String(100), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("elevation", sa.Float),
        sa.Column("depth_from", sa.Float, nullable=False),
        sa.Column("depth_to", sa.Float, nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("updated_at", _STAMP, server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "insitu_daily",
        sa.Column(
            "station_id", sa.Integer, sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("sm", sa.Float, nullable=False),
        sa.Column("n_obs", sa.Integer, nullable=False),
    )
    op.create_table(
        "matchups",
        sa.Column(
            "station_id", sa.Integer, sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("variant", sa.String(20), primary_key=True),
        sa.Column("model_version", sa.String(40), primary_key=True),
        sa.Column("model_run_id", sa.String(64)),
        sa.Column("insitu", sa.Float, nullable=False),
        sa.Column("product", sa.Float),
        sa.Column("precip", sa.Float),
        sa.Column("fine_row", sa.Integer, nullable=False),
        sa.Column("fine_col", sa.Integer, nullable=False),
        sa.Column("computed_at", _STAMP, server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_matchups_day", "matchups", ["day"])
    op.create_table(
        "validation_metrics",
        sa.Column("scope", sa.String(10), primary_key=True),
        sa.Column("scope_name", sa.String(300), primary_key=True),
        sa.Column("window_name", sa.String(10), primary_key=True),
        sa.Column("variant", sa.String(20), primary_key=True),
        sa.Column("model_version", sa.String(40), primary_key=True),
        sa.Column("computed_for", sa.Date, primary_key=True),
        sa.Column("window_start", sa.Date, nullable=False),
        sa.Column("window_end", sa.Date, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("n_stations", sa.Integer, nullable=False),
        sa.Column("r", sa.Float),
        sa.Column("r_pvalue", sa.Float),
        sa.Column("r_significant", sa.Boolean, nullable=False),
        sa.Column("bias", sa.Float),
        sa.Column("rmse", sa.Float),
        sa.Column("ubrmse", sa.Float),
        sa.Column("mae", sa.Float),
        sa.Column("station_mean_r", sa.Float),
        sa.Column("station_mean_ubrmse", sa.Float),
        sa.Column("computed_at", _STAMP, server_default=sa.func.now(), nullable=False),
    )
    op.execute(SUMMARY_30D)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS validation_summary_30d")
    for table in ("validation_metrics", "matchups", "insitu_daily", "stations"):
        op.drop_table(table)
