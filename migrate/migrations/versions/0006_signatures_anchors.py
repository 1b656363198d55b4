"""signatures and audit anchors

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-06

SSHSIG signatures over phase evidence (`migrate sign`) and the anchors that pin the audit
chain's length and head at each cutover point, signature and evidence pack.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migrate_signature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=63), nullable=False),
        sa.Column("signer", sa.String(length=63), nullable=False),
        sa.Column("printed_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=63), nullable=False),
        sa.Column("meaning", sa.String(length=20), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=100), nullable=False),
        sa.Column("statement", sa.String(), nullable=False),
        sa.Column("signature", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migrate_signature")),
    )
    op.create_index(op.f("ix_migrate_signature_phase"), "migrate_signature", ["phase"], unique=False)
    op.create_table(
        "migrate_audit_anchor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migrate_audit_anchor")),
    )


def downgrade() -> None:
    op.drop_table("migrate_audit_anchor")
    op.drop_index(op.f("ix_migrate_signature_phase"), table_name="migrate_signature")
    op.drop_table("migrate_signature")
