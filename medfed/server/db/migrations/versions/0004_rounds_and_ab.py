"""Federated rounds and their members; A/B challengers; prediction arms and outcomes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
LIVE_ROUND = "status IN ('open', 'training', 'evaluating')"


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("arm", sa.String(16), nullable=False, server_default="active"))
        batch.add_column(sa.Column("outcome", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("outcome_recorded_at", TIMESTAMP, nullable=True))
    op.create_table(
        "challengers",
        sa.Column("disease", sa.String(40), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("started_by", sa.String(80), nullable=False),
        sa.CheckConstraint("share > 0 AND share < 1", name="ck_challengers_share_between"),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_challengers_version_id_model_versions",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("disease", name="pk_challengers"),
    )
    op.create_table(
        "rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disease", sa.String(40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("base_version_id", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("opened_by", sa.String(80), nullable=False),
        sa.Column("opened_at", TIMESTAMP, nullable=False),
        sa.Column("cohort_fixed_at", TIMESTAMP, nullable=True),
        sa.Column("candidate_at", TIMESTAMP, nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("candidate_key", sa.String(64), nullable=True),
        sa.Column("evaluation", sa.JSON(), nullable=False),
        sa.Column("strategy_state", sa.JSON(), nullable=False),
        sa.Column("result_version_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'training', 'evaluating', 'deployed', 'rejected', 'failed')",
            name="ck_rounds_status_known",
        ),
        sa.ForeignKeyConstraint(
            ["base_version_id"],
            ["model_versions.id"],
            name="fk_rounds_base_version_id_model_versions",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["result_version_id"],
            ["model_versions.id"],
            name="fk_rounds_result_version_id_model_versions",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rounds"),
        sa.UniqueConstraint("disease", "number", name="uq_rounds_disease_number"),
    )
    op.create_index("ix_rounds_disease", "rounds", ["disease"])
    op.create_index(
        "ix_rounds_one_live",
        "rounds",
        ["disease"],
        unique=True,
        sqlite_where=sa.text(LIVE_ROUND),
        postgresql_where=sa.text(LIVE_ROUND),
    )
    op.create_table(
        "round_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("joined_at", TIMESTAMP, nullable=False),
        sa.Column("submitted_at", TIMESTAMP, nullable=True),
        sa.Column("contribution_id", sa.Integer(), nullable=True),
        sa.Column("evaluation", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "status IN ('joined', 'submitted', 'evaluated', 'dropped')",
            name="ck_round_members_status_known",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name="fk_round_members_round_id_rounds", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospitals.id"],
            name="fk_round_members_hospital_id_hospitals",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name="fk_round_members_node_id_nodes", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contribution_id"],
            ["contributions.id"],
            name="fk_round_members_contribution_id_contributions",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_round_members"),
        sa.UniqueConstraint("round_id", "hospital_id", name="uq_round_members_round_hospital"),
        sa.UniqueConstraint("contribution_id", name="uq_round_members_contribution_id"),
    )
    op.create_index("ix_round_members_round_id", "round_members", ["round_id"])
    op.create_index("ix_round_members_hospital_id", "round_members", ["hospital_id"])


def downgrade() -> None:
    op.drop_table("round_members")
    op.drop_table("rounds")
    op.drop_table("challengers")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("outcome_recorded_at")
        batch.drop_column("outcome")
        batch.drop_column("arm")
