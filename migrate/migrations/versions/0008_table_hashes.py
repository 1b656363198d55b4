"""the last content hash of each model table, and the writes since

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

Cutover points, rollback checks and phase evidence hash every model table; at 10M rows a
table costs a minute on PostgreSQL even when nothing wrote it since its last hash. Here each
table's last hash is kept (`migrate_table_hash`), and on PostgreSQL a statement trigger on
every model table notes each write (`migrate_table_write`): `migrate.load.hashcache` reads a
table again only when a write was noted, the trigger no longer fires, or the table's write
counters moved. The trigger runs as its owner (SECURITY DEFINER), so writers without rights on
the control tables still write, and fires ALWAYS (replication and `session_replication_role`
included). A later revision that recreates a model table must recreate its trigger.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MODEL_TABLES = (
    "supplier",
    "customer",
    "material",
    "equipment",
    "material_lot",
    "work_order",
    "lot_genealogy",
    "process_parameter",
    "quality_inspection",
    "equipment_status",
    "inventory_movement",
    "shipment",
)

# One note per table (more only while writers overlap): a writer that finds a note shares it;
# SKIP LOCKED, so neither a writer nor the hash that is deleting the note waits for the other.
NOTE_WRITE = """
CREATE FUNCTION migrate_note_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM 1 FROM migrate_table_write WHERE table_name = TG_TABLE_NAME LIMIT 1 FOR SHARE SKIP LOCKED;
    IF NOT FOUND THEN
        INSERT INTO migrate_table_write (table_name) VALUES (TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "migrate_table_hash",
        sa.Column("table_name", sa.String(length=63), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.Column("stamp", sa.String(length=200), nullable=True),
        sa.Column("hashed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("table_name", name=op.f("pk_migrate_table_hash")),
    )
    op.create_table(
        "migrate_table_write",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=63), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migrate_table_write")),
    )
    op.create_index(op.f("ix_migrate_table_write_table_name"), "migrate_table_write", ["table_name"])
    op.bulk_insert(
        sa.table("migrate_table_hash", sa.column("table_name", sa.String)),
        [{"table_name": name} for name in MODEL_TABLES],
    )
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no statement triggers: its tables are hashed every time
    op.execute(NOTE_WRITE)
    for name in MODEL_TABLES:
        op.execute(
            f'CREATE TRIGGER migrate_note_write AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{name}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION migrate_note_write()"
        )
        op.execute(f'ALTER TABLE "{name}" ENABLE ALWAYS TRIGGER migrate_note_write')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in MODEL_TABLES:
            op.execute(f'DROP TRIGGER IF EXISTS migrate_note_write ON "{name}"')
        op.execute("DROP FUNCTION IF EXISTS migrate_note_write()")
    op.drop_index(op.f("ix_migrate_table_write_table_name"), table_name="migrate_table_write")
    op.drop_table("migrate_table_write")
    op.drop_table("migrate_table_hash")
