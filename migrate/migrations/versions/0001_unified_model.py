"""unified model

Revision ID: 0001
Revises:
Create Date: 2026-11-23

The twelve tables of the unified model (docs/model.md). Quantities are NUMERIC(18, 6) on
PostgreSQL and canonical text on SQLite (see migrate.model.ExactDecimal).
"""

from alembic import op
import sqlalchemy as sa

# Frozen here rather than imported from the model, so later model changes cannot rewrite history.
EXACT_DECIMAL = sa.Numeric(18, 6).with_variant(sa.String(40), "sqlite")


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "customer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer")),
        sa.UniqueConstraint("customer_code", name=op.f("uq_customer_customer_code")),
    )
    op.create_table(
        "equipment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("line", sa.String(length=40), nullable=True),
        sa.Column("work_center", sa.String(length=40), nullable=True),
        sa.Column("equipment_type", sa.String(length=40), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment")),
        sa.UniqueConstraint("equipment_code", name=op.f("uq_equipment_equipment_code")),
    )
    op.create_table(
        "material",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("material_code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.String(length=200), nullable=True),
        sa.Column("material_type", sa.String(length=20), nullable=False),
        sa.Column("base_uom", sa.String(length=10), nullable=False),
        sa.Column("shelf_life_days", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "material_type IN ('raw', 'semi', 'finished', 'packaging')",
            name=op.f("ck_material_material_type_allowed"),
        ),
        sa.CheckConstraint(
            "shelf_life_days IS NULL OR shelf_life_days >= 0", name=op.f("ck_material_shelf_life_nonnegative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material")),
        sa.UniqueConstraint("material_code", name=op.f("uq_material_material_code")),
    )
    op.create_table(
        "supplier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("qualification_status", sa.String(length=20), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "qualification_status IN ('approved', 'conditional', 'blocked')",
            name=op.f("ck_supplier_qualification_status_allowed"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier")),
        sa.UniqueConstraint("supplier_code", name=op.f("uq_supplier_supplier_code")),
    )
    op.create_table(
        "equipment_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('running', 'idle', 'down', 'maintenance')",
            name=op.f("ck_equipment_status_status_allowed"),
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at", name=op.f("ck_equipment_status_ends_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_equipment_status_equipment_id_equipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_status")),
        sa.UniqueConstraint(
            "equipment_id", "started_at", name=op.f("uq_equipment_status_equipment_id_started_at")
        ),
    )
    with op.batch_alter_table("equipment_status", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_equipment_status_equipment_id"), ["equipment_id"], unique=False)

    op.create_table(
        "material_lot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_no", sa.String(length=60), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=True),
        sa.Column("supplier_lot_no", sa.String(length=60), nullable=True),
        sa.Column("quantity", EXACT_DECIMAL, nullable=False),
        sa.Column("uom", sa.String(length=10), nullable=False),
        sa.Column("manufactured_on", sa.Date(), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("warehouse", sa.String(length=40), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('quarantine', 'released', 'rejected', 'consumed')",
            name=op.f("ck_material_lot_status_allowed"),
        ),
        sa.CheckConstraint(
            "expires_on IS NULL OR manufactured_on IS NULL OR expires_on >= manufactured_on",
            name=op.f("ck_material_lot_expiry_after_manufacture"),
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_material_lot_quantity_nonnegative")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["material.id"], name=op.f("fk_material_lot_material_id_material")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["supplier.id"], name=op.f("fk_material_lot_supplier_id_supplier")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_lot")),
        sa.UniqueConstraint("lot_no", name=op.f("uq_material_lot_lot_no")),
    )
    with op.batch_alter_table("material_lot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_material_lot_material_id"), ["material_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_material_lot_supplier_id"), ["supplier_id"], unique=False)

    op.create_table(
        "work_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_no", sa.String(length=40), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("planned_qty", EXACT_DECIMAL, nullable=False),
        sa.Column("actual_qty", EXACT_DECIMAL, nullable=True),
        sa.Column("uom", sa.String(length=10), nullable=False),
        sa.Column("line", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('planned', 'released', 'in_progress', 'completed', 'closed', 'cancelled')",
            name=op.f("ck_work_order_status_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["material_id"], ["material.id"], name=op.f("fk_work_order_material_id_material")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order")),
        sa.UniqueConstraint("work_order_no", name=op.f("uq_work_order_work_order_no")),
    )
    with op.batch_alter_table("work_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_order_material_id"), ["material_id"], unique=False)

    op.create_table(
        "inventory_movement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("movement_no", sa.String(length=40), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("movement_type", sa.String(length=20), nullable=False),
        sa.Column("quantity", EXACT_DECIMAL, nullable=False),
        sa.Column("uom", sa.String(length=10), nullable=False),
        sa.Column("warehouse", sa.String(length=40), nullable=True),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "movement_type IN ('receipt', 'issue', 'production_receipt', 'shipment', 'adjustment', 'transfer')",
            name=op.f("ck_inventory_movement_movement_type_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["material_lot.id"], name=op.f("fk_inventory_movement_lot_id_material_lot")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_movement")),
        sa.UniqueConstraint("movement_no", name=op.f("uq_inventory_movement_movement_no")),
    )
    with op.batch_alter_table("inventory_movement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inventory_movement_lot_id"), ["lot_id"], unique=False)

    op.create_table(
        "lot_genealogy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_lot_id", sa.Integer(), nullable=False),
        sa.Column("child_lot_id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("quantity", EXACT_DECIMAL, nullable=False),
        sa.Column("uom", sa.String(length=10), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("parent_lot_id <> child_lot_id", name=op.f("ck_lot_genealogy_no_self_link")),
        sa.ForeignKeyConstraint(
            ["child_lot_id"], ["material_lot.id"], name=op.f("fk_lot_genealogy_child_lot_id_material_lot")
        ),
        sa.ForeignKeyConstraint(
            ["parent_lot_id"], ["material_lot.id"], name=op.f("fk_lot_genealogy_parent_lot_id_material_lot")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"], ["work_order.id"], name=op.f("fk_lot_genealogy_work_order_id_work_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lot_genealogy")),
        sa.UniqueConstraint(
            "parent_lot_id",
            "child_lot_id",
            "work_order_id",
            name=op.f("uq_lot_genealogy_parent_lot_id_child_lot_id_work_order_id"),
        ),
    )
    with op.batch_alter_table("lot_genealogy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lot_genealogy_child_lot_id"), ["child_lot_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lot_genealogy_parent_lot_id"), ["parent_lot_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lot_genealogy_work_order_id"), ["work_order_id"], unique=False)

    op.create_table(
        "process_parameter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("parameter", sa.String(length=60), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", EXACT_DECIMAL, nullable=False),
        sa.Column("uom", sa.String(length=10), nullable=True),
        sa.Column("lower_limit", EXACT_DECIMAL, nullable=True),
        sa.Column("upper_limit", EXACT_DECIMAL, nullable=True),
        sa.Column("in_spec", sa.Boolean(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_process_parameter_equipment_id_equipment")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"], ["work_order.id"], name=op.f("fk_process_parameter_work_order_id_work_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_parameter")),
        sa.UniqueConstraint(
            "work_order_id",
            "equipment_id",
            "parameter",
            "recorded_at",
            name=op.f("uq_process_parameter_work_order_id_equipment_id_parameter_recorded_at"),
        ),
    )
    with op.batch_alter_table("process_parameter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_process_parameter_equipment_id"), ["equipment_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_process_parameter_work_order_id"), ["work_order_id"], unique=False
        )

    op.create_table(
        "quality_inspection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_no", sa.String(length=40), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("inspection_type", sa.String(length=20), nullable=False),
        sa.Column("characteristic", sa.String(length=100), nullable=False),
        sa.Column("measured_value", EXACT_DECIMAL, nullable=True),
        sa.Column("uom", sa.String(length=10), nullable=True),
        sa.Column("result", sa.String(length=10), nullable=False),
        sa.Column("inspector", sa.String(length=60), nullable=True),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disposition", sa.String(length=20), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "disposition IS NULL OR disposition IN ('accepted', 'rejected', 'concession', 'rework', 'scrap')",
            name=op.f("ck_quality_inspection_disposition_allowed"),
        ),
        sa.CheckConstraint(
            "inspection_type IN ('incoming', 'in_process', 'final', 'outgoing')",
            name=op.f("ck_quality_inspection_inspection_type_allowed"),
        ),
        sa.CheckConstraint("result IN ('pass', 'fail')", name=op.f("ck_quality_inspection_result_allowed")),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["material_lot.id"], name=op.f("fk_quality_inspection_lot_id_material_lot")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_inspection")),
        sa.UniqueConstraint("inspection_no", name=op.f("uq_quality_inspection_inspection_no")),
    )
    with op.batch_alter_table("quality_inspection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quality_inspection_lot_id"), ["lot_id"], unique=False)

    op.create_table(
        "shipment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_no", sa.String(length=40), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("quantity", EXACT_DECIMAL, nullable=False),
        sa.Column("uom", sa.String(length=10), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_shipment_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_shipment_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["material_lot.id"], name=op.f("fk_shipment_lot_id_material_lot")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment")),
        sa.UniqueConstraint("shipment_no", "line_no", name=op.f("uq_shipment_shipment_no_line_no")),
    )
    with op.batch_alter_table("shipment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shipment_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shipment_lot_id"), ["lot_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("shipment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipment_lot_id"))
        batch_op.drop_index(batch_op.f("ix_shipment_customer_id"))

    op.drop_table("shipment")
    with op.batch_alter_table("quality_inspection", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quality_inspection_lot_id"))

    op.drop_table("quality_inspection")
    with op.batch_alter_table("process_parameter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_process_parameter_work_order_id"))
        batch_op.drop_index(batch_op.f("ix_process_parameter_equipment_id"))

    op.drop_table("process_parameter")
    with op.batch_alter_table("lot_genealogy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lot_genealogy_work_order_id"))
        batch_op.drop_index(batch_op.f("ix_lot_genealogy_parent_lot_id"))
        batch_op.drop_index(batch_op.f("ix_lot_genealogy_child_lot_id"))

    op.drop_table("lot_genealogy")
    with op.batch_alter_table("inventory_movement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_movement_lot_id"))

    op.drop_table("inventory_movement")
    with op.batch_alter_table("work_order", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_order_material_id"))

    op.drop_table("work_order")
    with op.batch_alter_table("material_lot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_material_lot_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_material_lot_material_id"))

    op.drop_table("material_lot")
    with op.batch_alter_table("equipment_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_equipment_status_equipment_id"))

    op.drop_table("equipment_status")
    op.drop_table("supplier")
    op.drop_table("material")
    op.drop_table("equipment")
    op.drop_table("customer")
