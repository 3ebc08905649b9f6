"""Secure aggregation: per-round protocol state and the hospitals' stage messages.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rounds") as batch:
        batch.add_column(sa.Column("secagg", sa.JSON(), nullable=True))
    op.create_table(
        "secagg_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("sender", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name="fk_secagg_messages_round_id_rounds",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_secagg_messages"),
        sa.UniqueConstraint(
            "round_id", "stage", "sender", name="uq_secagg_messages_round_stage_sender"
        ),
    )
    op.create_index("ix_secagg_messages_round_id", "secagg_messages", ["round_id"])


def downgrade() -> None:
    op.drop_table("secagg_messages")
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("secagg")
