"""ids unique for the life of a target; what each load inserted

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

SQLite without AUTOINCREMENT gives a new row the largest id + 1: delete the newest row a
load wrote and the next row anyone inserts takes its id, so a rollback deleting the
load's id range deleted a row the toolkit never wrote. AUTOINCREMENT (a table property:
the tables are rebuilt in batch mode, with foreign keys off, see `migrate.db`) never
hands an id out twice. PostgreSQL's serial sequences never reuse an id already.

`migrate_load_written` records, for every row a load inserted, its natural key (JSON
text) and a digest of its content: the undo of an insert deletes only rows that still match it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen here: the model tables as 0004 left them.
MODEL_TABLES = (
    "customer",
    "equipment",
    "material",
    "supplier",
    "material_lot",
    "work_order",
    "lot_genealogy",
    "process_parameter",
    "quality_inspection",
    "equipment_status",
    "inventory_movement",
    "shipment",
)


def _autoincrement(on: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in MODEL_TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": on}):
            pass


def upgrade() -> None:
    _autoincrement(True)
    op.create_table(
        "migrate_load_written",
        sa.Column("entity", sa.String(length=60), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("natural_key", sa.String(), nullable=False),
        sa.Column("row_digest", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("entity", "id", name=op.f("pk_migrate_load_written")),
    )


def downgrade() -> None:
    op.drop_table("migrate_load_written")
    _autoincrement(False)
