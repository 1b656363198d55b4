"""audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

The hash-chained audit log of state-changing commands (docs/guarantees.md#tamper-evident-audit) and its head row.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migrate_audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String(length=120), nullable=False),
        sa.Column("command", sa.String(length=200), nullable=False),
        sa.Column("details", sa.String(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_migrate_audit_log")),
    )
    op.create_table(
        "migrate_audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_migrate_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migrate_audit_head")),
    )


def downgrade() -> None:
    op.drop_table("migrate_audit_head")
    op.drop_table("migrate_audit_log")
