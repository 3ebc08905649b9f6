"""Training line: a version may be a trained checkpoint that was never promoted to doctors.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

A new column rather than a new `status` value: on SQLite, changing the status CHECK constraint
means rebuilding the table, which the predictions and rounds that reference it forbid.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(
            sa.Column("stage", sa.String(16), nullable=False, server_default="promoted")
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("stage")
