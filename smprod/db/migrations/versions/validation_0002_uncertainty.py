"""Validation uncertainty: metric intervals and independent days; triple-collocation errors.

Adds to ``validation_metrics`` the 95 % intervals of R, bias, RMSE and ubRMSE and ``n_eff`` (the
independent days behind each row), shows them in ``validation_summary_30d``, and creates
``validation_collocation`` (random error of the product, SMAP and the stations by triple
collocation, per network and overall). Rows written before this revision have NULL intervals
until their window is recomputed (the next ``smprod validate`` or production day).

Revision ID: validation_0002
Revises: validation_0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "validation_0002"
down_revision = "validation_0001"
branch_labels = None
depends_on = None

_STAMP = sa.DateTime(timezone=True)
#: New nullable columns of validation_metrics (NULL where undefined or not yet recomputed).
INTERVAL_COLUMNS = (
    "n_eff",
    "r_ci_low", "r_ci_high",
    "bias_ci_low", "bias_ci_high",
    "rmse_ci_low", "rmse_ci_high",
    "ubrmse_ci_low", "ubrmse_ci_high",
)  # fmt: skip
#: The three collocated systems (column prefixes of validation_collocation).
SYSTEMS = ("product", "smap", "insitu")

#: validation_0001's view, with the intervals, n_eff and SMAP's ubRMSE interval added.
SUMMARY_30D = """
CREATE VIEW validation_summary_30d AS
WITH latest AS (
    SELECT max(computed_for) AS day FROM validation_metrics WHERE window_name = '30d'
)
SELECT m.computed_for, m.window_start, m.window_end, m.model_version, m.scope, m.scope_name,
       m.variant, m.n, m.n_eff, m.n_stations, m.r, m.r_ci_low, m.r_ci_high, m.r_significant,
       m.bias, m.bias_ci_low, m.bias_ci_high, m.rmse, m.rmse_ci_low, m.rmse_ci_high,
       m.ubrmse, m.ubrmse_ci_low, m.ubrmse_ci_high, m.mae,
       s.ubrmse AS smap_ubrmse, s.ubrmse_ci_low AS smap_ubrmse_ci_low,
       s.ubrmse_ci_high AS smap_ubrmse_ci_high, m.ubrmse - s.ubrmse AS ubrmse_minus_smap,
       s.r AS smap_r, m.r - s.r AS r_minus_smap
FROM validation_metrics m
JOIN latest ON m.computed_for = latest.day
LEFT JOIN validation_metrics s
       ON s.scope = m.scope AND s.scope_name = m.scope_name AND s.window_name = m.window_name
      AND s.model_version = m.model_version AND s.computed_for = m.computed_for
      AND s.variant = 'smap'
WHERE m.window_name = '30d' AND m.scope IN ('overall', 'network')
"""

#: validation_0001's view as it was (for downgrade).
SUMMARY_30D_0001 = """
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


def _error_columns() -> list[sa.Column]:
    columns = []
    for system in SYSTEMS:
        for suffix in ("error", "error_ci_low", "error_ci_high"):
            columns.append(sa.Column(f"{system}_{suffix}", sa.Float))
    return columns


def upgrade() -> None:
    for name in INTERVAL_COLUMNS:
        op.add_column("validation_metrics", sa.Column(name, sa.Float))
    op.execute("DROP VIEW IF EXISTS validation_summary_30d")
    op.execute(SUMMARY_30D)
    op.create_table(
        "validation_collocation",
        sa.Column("scope", sa.String(10), primary_key=True),
        sa.Column("scope_name", sa.String(300), primary_key=True),
        sa.Column("window_name", sa.String(10), primary_key=True),
        sa.Column("product_variant", sa.String(20), primary_key=True),
        sa.Column("model_version", sa.String(40), primary_key=True),
        sa.Column("computed_for", sa.Date, primary_key=True),
        sa.Column("window_start", sa.Date, nullable=False),
        sa.Column("window_end", sa.Date, nullable=False),
        sa.Column("n_triplets", sa.Integer, nullable=False),
        sa.Column("n_stations", sa.Integer, nullable=False),
        *_error_columns(),
        sa.Column("computed_at", _STAMP, server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("validation_collocation")
    op.execute("DROP VIEW IF EXISTS validation_summary_30d")
    for name in INTERVAL_COLUMNS:
        op.drop_column("validation_metrics", name)
    op.execute(SUMMARY_30D_0001)
