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

import importlib.util
from pathlib import Path

from alembic import op

revision = "validation_0003"
down_revision = "validation_0002"
branch_labels = None
depends_on = None


def _view_of_0002() -> str:
    """validation_0002's view, read from its own file (a migration is never changed, so this is
    what it created; loaded by path as Alembic loads it, the folder being no package)."""
    path = Path(__file__).with_name("validation_0002_uncertainty.py")
    spec = importlib.util.spec_from_file_location("smprod_migration_validation_0002", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.SUMMARY_30D)


#: validation_0002's view (for downgrade).
SUMMARY_30D_0002 = _view_of_0002()

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
