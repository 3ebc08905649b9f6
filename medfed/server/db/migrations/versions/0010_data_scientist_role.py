"""The data scientist role: runs campaigns and rounds, promotes, rolls back and starts A/B
tests, sees metrics and privacy spend; manages no users, hospitals, enrollment or audit.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ROLES_BEFORE = "role IN ('admin', 'hospital', 'doctor')"
ROLES_AFTER = "role IN ('admin', 'hospital', 'doctor', 'data_scientist')"


def _roles(allowed: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a constraint: batch mode copies the table with the new one.
        with op.batch_alter_table("users", recreate="always") as batch:
            batch.drop_constraint("ck_users_role_known", type_="check")
            batch.create_check_constraint(op.f("ck_users_role_known"), allowed)
        return
    op.drop_constraint("ck_users_role_known", "users", type_="check")
    op.create_check_constraint(op.f("ck_users_role_known"), "users", allowed)


def upgrade() -> None:
    _roles(ROLES_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM users WHERE role = 'data_scientist'")
    _roles(ROLES_BEFORE)
