"""Federated analytics: questions asked of the network, each hospital's part in one, and the
secure-aggregation messages of a network-wide answer.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "analytics_queries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disease", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("per_site", sa.Boolean(), nullable=False),
        sa.Column("min_hospitals", sa.Integer(), nullable=False),
        sa.Column("collect_seconds", sa.Float(), nullable=False),
        sa.Column("stage_seconds", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("secagg", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("asked_by", sa.String(80), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "status IN ('collecting', 'aggregating', 'released', 'failed', 'cancelled')",
            name="ck_analytics_queries_status_known",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_analytics_queries"),
    )
    op.create_index("ix_analytics_queries_disease", "analytics_queries", ["disease"])
    op.create_table(
        "analytics_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "query_id",
            sa.Integer(),
            sa.ForeignKey(
                "analytics_queries.id",
                ondelete="CASCADE",
                name="fk_analytics_members_query_id_analytics_queries",
            ),
            nullable=False,
        ),
        sa.Column(
            "hospital_id",
            sa.Integer(),
            sa.ForeignKey(
                "hospitals.id",
                ondelete="CASCADE",
                name="fk_analytics_members_hospital_id_hospitals",
            ),
            nullable=False,
        ),
        sa.Column(
            "node_id",
            sa.Integer(),
            sa.ForeignKey(
                "nodes.id", ondelete="CASCADE", name="fk_analytics_members_node_id_nodes"
            ),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("epsilon", sa.Float(), nullable=True),
        sa.Column("delta", sa.Float(), nullable=True),
        sa.Column("min_cell", sa.Integer(), nullable=True),
        sa.Column("answer", sa.LargeBinary(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("query_id", "hospital_id", name="uq_analytics_members_query_hospital"),
        sa.CheckConstraint(
            "status IN ('asked', 'joined', 'answered', 'declined', 'dropped')",
            name="ck_analytics_members_status_known",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_analytics_members"),
    )
    op.create_index("ix_analytics_members_query_id", "analytics_members", ["query_id"])
    op.create_index("ix_analytics_members_hospital_id", "analytics_members", ["hospital_id"])
    op.create_table(
        "analytics_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "query_id",
            sa.Integer(),
            sa.ForeignKey(
                "analytics_queries.id",
                ondelete="CASCADE",
                name="fk_analytics_messages_query_id_analytics_queries",
            ),
            nullable=False,
        ),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("sender", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint(
            "query_id", "stage", "sender", name="uq_analytics_messages_query_stage_sender"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_analytics_messages"),
    )
    op.create_index("ix_analytics_messages_query_id", "analytics_messages", ["query_id"])


def downgrade() -> None:
    op.drop_table("analytics_messages")
    op.drop_table("analytics_members")
    op.drop_table("analytics_queries")
