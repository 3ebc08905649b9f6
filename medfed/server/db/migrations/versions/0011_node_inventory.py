"""What each node last reported about itself: its software version, how much its hospital has
registered (counts only) and which models it holds.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("inventory", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("inventory_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("inventory_at")
        batch.drop_column("inventory")
