"""cutover points and rollbacks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Cutover points (ledger position + per-table content hashes), rollback runs, and the
archive of ledger entries a rollback undid (`migrate rollback`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migrate_cutover_point",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("phase", sa.String(length=63), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String(length=120), nullable=False),
        sa.Column("ledger_seq", sa.Integer(), nullable=False),
        sa.Column("hashes", sa.String(), nullable=False),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migrate_cutover_point")),
    )
    op.create_index(op.f("ix_migrate_cutover_point_name"), "migrate_cutover_point", ["name"], unique=False)
    op.create_table(
        "migrate_rollback_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("point", sa.String(length=63), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("operator", sa.String(length=120), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("command", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("undone", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("summary", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migrate_rollback_run")),
    )
    op.create_table(
        "migrate_rollback_undone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollback_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=60), nullable=False),
        sa.Column("chunk_no", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=10), nullable=False),
        sa.Column("id_lo", sa.Integer(), nullable=False),
        sa.Column("id_hi", sa.Integer(), nullable=False),
        sa.Column("before", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migrate_rollback_undone")),
    )
    op.create_index(
        op.f("ix_migrate_rollback_undone_rollback_id"),
        "migrate_rollback_undone",
        ["rollback_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_migrate_rollback_undone_rollback_id"), table_name="migrate_rollback_undone")
    op.drop_table("migrate_rollback_undone")
    op.drop_table("migrate_rollback_run")
    op.drop_index(op.f("ix_migrate_cutover_point_name"), table_name="migrate_cutover_point")
    op.drop_table("migrate_cutover_point")
