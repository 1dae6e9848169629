"""Validation on common days: the summary view compares a ``_common`` row with SMAP's.

``smprod.validation.skill`` also scores the product and the SMAP baselines on the station-days
where all of them have a value (variants ``corrected_common``, ``bilinear_common``,
``smap_common``). In ``validation_summary_30d`` such a row's ``smap_*`` columns and differences
are now those of ``smap_common`` (the same days), every other row's those of ``smap`` as before.
No table changes.

Revision ID: validation_0003
Revises: validation_0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "validation_0003"
down_revision = "validation_0002"
branch_labels = None
depends_on = None

#: validation_0002's view as it was (for downgrade; migrations keep their own copy of what they
#: undo, so a later change of an earlier file cannot change them).
SUMMARY_30D_0002 = """
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


#: validation_0002's view, with a ``_common`` row's SMAP taken from ``smap_common``.
SUMMARY_30D = SUMMARY_30D_0002.replace(
    "AND s.variant = 'smap'",
    "AND s.variant = CASE WHEN m.variant LIKE '%\\_common' THEN 'smap_common' ELSE 'smap' END",
)


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS validation_summary_30d")
    op.execute(SUMMARY_30D)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS validation_summary_30d")
    op.execute(SUMMARY_30D_0002)
