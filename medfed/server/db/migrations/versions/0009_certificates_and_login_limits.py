"""The network's certificate authority and the client certificates it issued to nodes; login
limits shared by every server process.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

The authority's private key is stored sealed with a key derived from MEDFED_SECRET_KEY, so every
server process of a network (which share that key anyway) signs with the same authority, and a
copy of the database alone does not give the key away. Login attempts per address and failed
passwords per account and address move from each process's memory into `login_throttle`, so
several server processes on several machines count them together.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "certificate_authority",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("sealed_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_certificate_authority_single"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "node_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(40), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("issued_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("serial"),
    )
    op.create_index("ix_node_certificates_node_id", "node_certificates", ["node_id"])
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    op.drop_index("ix_node_certificates_node_id", table_name="node_certificates")
    op.drop_table("node_certificates")
    op.drop_table("certificate_authority")
