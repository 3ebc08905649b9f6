"""Training campaigns, which campaign opened which round, and buffered contributions.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

A link table rather than a column on `rounds`: on SQLite a new foreign-key column means
rebuilding a table that others reference.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
ACTIVE_CAMPAIGN = "status IN ('running', 'paused')"


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disease", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("round_config", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("next_check_at", TIMESTAMP, nullable=True),
        sa.Column("waiting_for", sa.String(200), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'paused', 'finished', 'cancelled')",
            name="ck_campaigns_status_known",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
    )
    op.create_index("ix_campaigns_disease", "campaigns", ["disease"])
    op.create_index(
        "ix_campaigns_one_active",
        "campaigns",
        ["disease"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_CAMPAIGN),
        postgresql_where=sa.text(ACTIVE_CAMPAIGN),
    )
    op.create_table(
        "campaign_rounds",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name="fk_campaign_rounds_round_id_rounds",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name="fk_campaign_rounds_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("round_id", name="pk_campaign_rounds"),
    )
    op.create_index("ix_campaign_rounds_campaign_id", "campaign_rounds", ["campaign_id"])
    op.create_table(
        "contribution_buffers",
        sa.Column("disease", sa.String(40), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("enabled_by", sa.String(80), nullable=False),
        sa.Column("enabled_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("disease", name="pk_contribution_buffers"),
    )


def downgrade() -> None:
    op.drop_table("contribution_buffers")
    op.drop_table("campaign_rounds")
    op.drop_table("campaigns")
