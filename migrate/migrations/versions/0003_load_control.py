"""load control tables

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Runs, checkpoints, the row ledger and the one-writer lease of `migrate load`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migrate_load_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("operator", sa.String(length=120), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("command", sa.String(length=500), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("project_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("input_fingerprints", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migrate_load_run")),
    )
    op.create_table(
        "migrate_load_checkpoint",
        sa.Column("entity", sa.String(length=60), nullable=False),
        sa.Column("pass_run_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("next_chunk", sa.Integer(), nullable=False),
        sa.Column("last_row_id", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entity", name=op.f("pk_migrate_load_checkpoint")),
    )
    op.create_table(
        "migrate_load_ledger",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=60), nullable=False),
        sa.Column("chunk_no", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=10), nullable=False),
        sa.Column("id_lo", sa.Integer(), nullable=False),
        sa.Column("id_hi", sa.Integer(), nullable=False),
        sa.Column("before", sa.String(), nullable=True),
        sa.CheckConstraint("op IN ('insert', 'update', 'delete')", name=op.f("ck_migrate_load_ledger_op_allowed")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_migrate_load_ledger")),
    )
    op.create_index(op.f("ix_migrate_load_ledger_run_id"), "migrate_load_ledger", ["run_id"], unique=False)
    op.create_table(
        "migrate_lease",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("operator", sa.String(length=120), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("command", sa.String(length=500), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_migrate_lease_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migrate_lease")),
    )


def downgrade() -> None:
    op.drop_table("migrate_lease")
    op.drop_index(op.f("ix_migrate_load_ledger_run_id"), table_name="migrate_load_ledger")
    op.drop_table("migrate_load_ledger")
    op.drop_table("migrate_load_checkpoint")
    op.drop_table("migrate_load_run")
