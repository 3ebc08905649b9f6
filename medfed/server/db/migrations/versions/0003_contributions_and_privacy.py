"""Contributions from nodes and the privacy spend they report.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "contributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("disease", sa.String(40), nullable=False),
        sa.Column("base_version_id", sa.Integer(), nullable=False),
        sa.Column("job_ref", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=True),
        sa.Column("delta", sa.Float(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("update_blob", sa.LargeBinary(), nullable=False),
        sa.Column("update_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospitals.id"],
            name="fk_contributions_hospital_id_hospitals",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name="fk_contributions_node_id_nodes", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["base_version_id"],
            ["model_versions.id"],
            name="fk_contributions_base_version_id_model_versions",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contributions"),
        sa.UniqueConstraint("node_id", "job_ref", name="uq_contributions_node_job"),
    )
    op.create_index("ix_contributions_hospital_id", "contributions", ["hospital_id"])
    op.create_index("ix_contributions_disease", "contributions", ["disease"])
    op.create_table(
        "privacy_spend",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("disease", sa.String(40), nullable=False),
        sa.Column("entry_ref", sa.String(64), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.Column("reported_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospitals.id"],
            name="fk_privacy_spend_hospital_id_hospitals",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name="fk_privacy_spend_node_id_nodes", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_spend"),
        sa.UniqueConstraint("node_id", "entry_ref", name="uq_privacy_spend_node_entry"),
    )
    op.create_index("ix_privacy_spend_hospital_id", "privacy_spend", ["hospital_id"])


def downgrade() -> None:
    op.drop_table("privacy_spend")
    op.drop_table("contributions")
