"""a record per committed chunk of a load on several connections

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

`migrate load --jobs N` (PostgreSQL) commits chunks on N connections at once. One checkpoint
row per entity, rewritten by every chunk, would serialise them on its row lock; instead each
chunk's transaction inserts its own row here (data, ledger, digests, this record: one commit),
and resume loads the chunks that have none. The pass's last transaction folds them into
`migrate_load_checkpoint` and deletes them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migrate_load_chunk",
        sa.Column("entity", sa.String(length=60), nullable=False),
        sa.Column("pass_run_id", sa.Integer(), nullable=False),
        sa.Column("chunk_no", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("first_row_id", sa.Integer(), nullable=False),
        sa.Column("last_row_id", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entity", "pass_run_id", "chunk_no", name=op.f("pk_migrate_load_chunk")),
    )


def downgrade() -> None:
    op.drop_table("migrate_load_chunk")
