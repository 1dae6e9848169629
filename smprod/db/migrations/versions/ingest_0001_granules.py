"""Ingest: the granule ledger (table ``granules``, model ``smprod.inputs.ledger.GranuleRecord``).

Revision ID: ingest_0001
Revises: 0001_base
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "ingest_0001"
down_revision = "0001_base"
branch_labels = ("ingest",)
depends_on = None

_STAMP = sa.DateTime(timezone=True)
_STATUSES = ("discovered", "downloaded", "valid", "quarantined", "used")


def upgrade() -> None:
    op.create_table(
        "granules",
        sa.Column("granule_id", sa.String(255), primary_key=True),
        sa.Column("product", sa.String(40), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("tile", sa.String(6)),
        sa.Column("release", sa.String(40)),
        sa.Column("path", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("size", sa.BigInteger),
        sa.Column("checksum", sa.String(128)),
        sa.Column("checksum_algorithm", sa.String(20)),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("first_seen", _STAMP, server_default=sa.func.now(), nullable=False),
        sa.Column("last_seen", _STAMP, server_default=sa.func.now(), nullable=False),
        sa.Column("used_by", ARRAY(sa.Date), server_default="{}", nullable=False),
        sa.CheckConstraint(f"status IN {_STATUSES!r}", name="granules_status_known"),
    )
    op.create_index("granules_product_day", "granules", ["product", "day"])


def downgrade() -> None:
    op.drop_index("granules_product_day", table_name="granules")
    op.drop_table("granules")
