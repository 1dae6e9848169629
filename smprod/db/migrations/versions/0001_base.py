"""Base revision: the root every area's migration branch starts from.

Revision ID: 0001_base
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0001_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Tables live in area branches (ingest, validation, models, runs); this only records the root.
    op.execute("SELECT 1")


def downgrade() -> None:
    pass
