"""The unified model (docs/model.md): twelve tables, and how mapped rows refer to them.

Every table has an integer surrogate `id`, a unique natural key, foreign keys to ids,
and `created_at`/`updated_at`. Mapped rows (the output of `map`, the input of `load`)
name their references by natural key (`material_code`, not `material_id`); `ENTITIES`
says how each such column resolves to a foreign key, so load, reconcile and rollback
share one description.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    UniqueConstraint,
    func,
)
from sqlalchemy.types import TypeDecorator

# Constraint names are fixed so that alembic migrations and rollbacks can refer to them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

QUANTITY_SCALE = 6
_QUANT = decimal.Decimal(1).scaleb(-QUANTITY_SCALE)


class ExactDecimal(TypeDecorator):
    """NUMERIC(18, 6) on PostgreSQL; canonical text on SQLite, which has no exact decimal.

    SQLite would store a NUMERIC as a float and lose exactness; text keeps every digit,
    and the fixed scale makes the same value render identically on both backends.
    """

    impl = Numeric(18, QUANTITY_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, QUANTITY_SCALE, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = to_decimal(value)
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        return None if value is None else to_decimal(value)


def to_decimal(value) -> decimal.Decimal:
    """A value as an exact decimal at the model's fixed scale."""
    if not isinstance(value, decimal.Decimal):
        value = decimal.Decimal(str(value))
    return value.quantize(_QUANT)


class UtcDateTime(TypeDecorator):
    """A timezone-aware timestamp, always stored in UTC.

    PostgreSQL keeps it as timestamptz. SQLite has no time zones: SQLAlchemy would drop
    the offset silently, so the value is converted to UTC first and stored as naive UTC
    text (`YYYY-MM-DD HH:MM:SS.ffffff`, see `sqlite_timestamp`), and read back as UTC.
    A naive value is refused: the mapping must say which zone the legacy data meant.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive timestamp {value!r}: give it a time zone before loading")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sqlite_timestamp(value: datetime) -> str:
    """The text SQLite stores for an aware timestamp (what `UtcDateTime` writes and reads)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _timestamps() -> list[Column]:
    return [
        Column(
            "created_at", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp()
        ),
        Column(
            "updated_at", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp()
        ),
    ]


def _in(column: str, values: tuple[str, ...], name: str | None = None) -> CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    # `info` lets map check the enumeration before load meets the constraint (mapping/constraints.py)
    return CheckConstraint(
        f"{column} IN ({quoted})", name=name or f"{column}_allowed", info={"allowed": (column, values)}
    )


# Allowed values of each enumeration, with what each means: the data behind the CHECK
# constraints, docs/model.md and the mapping skeletons (`migrate init`, `migrate new mapping`).
QUALIFICATION_STATUS_MEANINGS = {
    "approved": "qualified: may be ordered from and received without restriction",
    "conditional": "may be used under conditions (pending audit, tightened incoming inspection)",
    "blocked": "must not be ordered from; goods from it are not received",
}
MATERIAL_TYPE_MEANINGS = {
    "raw": "raw material bought from suppliers",
    "semi": "semi-finished good, produced and consumed in-house",
    "finished": "finished good, produced and sold to customers",
    "packaging": "packaging material",
}
LOT_STATUS_MEANINGS = {
    "quarantine": "received or produced, awaiting a quality decision: not usable yet",
    "released": "passed its inspection: usable and shippable",
    "rejected": "failed its inspection: must not be used or shipped",
    "consumed": "used up in production or shipped: no stock left",
}
WORK_ORDER_STATUS_MEANINGS = {
    "planned": "created, not yet released to the shop floor",
    "released": "released to production, not started",
    "in_progress": "production started, not finished",
    "completed": "production finished, quantities reported",
    "closed": "completed and closed: no more postings",
    "cancelled": "will not be produced",
}
INSPECTION_TYPE_MEANINGS = {
    "incoming": "goods-receipt inspection of a supplier lot",
    "in_process": "inspection during production",
    "final": "inspection of a produced lot before its release",
    "outgoing": "inspection before shipment to a customer",
}
INSPECTION_RESULT_MEANINGS = {
    "pass": "the characteristic met its specification",
    "fail": "the characteristic did not meet its specification",
}
DISPOSITION_MEANINGS = {
    "accepted": "the lot is accepted as it is",
    "rejected": "the lot is refused (returned to the supplier or blocked)",
    "concession": "accepted despite a deviation, under a documented concession",
    "rework": "to be reworked, then inspected again",
    "scrap": "to be scrapped",
}
EQUIPMENT_STATE_MEANINGS = {
    "running": "producing",
    "idle": "available, not producing",
    "down": "unplanned stop (breakdown)",
    "maintenance": "planned maintenance",
}
MOVEMENT_TYPE_MEANINGS = {
    "receipt": "goods received from a supplier (positive quantity)",
    "issue": "issued to production (negative quantity)",
    "production_receipt": "produced goods received into stock (positive quantity)",
    "shipment": "shipped to a customer (negative quantity)",
    "adjustment": "stock-count correction (either sign)",
    "transfer": "moved between warehouses",
}

QUALIFICATION_STATUS = tuple(QUALIFICATION_STATUS_MEANINGS)
MATERIAL_TYPE = tuple(MATERIAL_TYPE_MEANINGS)
LOT_STATUS = tuple(LOT_STATUS_MEANINGS)
WORK_ORDER_STATUS = tuple(WORK_ORDER_STATUS_MEANINGS)
INSPECTION_TYPE = tuple(INSPECTION_TYPE_MEANINGS)
INSPECTION_RESULT = tuple(INSPECTION_RESULT_MEANINGS)
DISPOSITION = tuple(DISPOSITION_MEANINGS)
EQUIPMENT_STATE = tuple(EQUIPMENT_STATE_MEANINGS)
MOVEMENT_TYPE = tuple(MOVEMENT_TYPE_MEANINGS)

#: `table.column` -> {allowed value: what it means}; a test checks it against the CHECK constraints.
ALLOWED_VALUES: dict[str, dict[str, str]] = {
    "supplier.qualification_status": QUALIFICATION_STATUS_MEANINGS,
    "material.material_type": MATERIAL_TYPE_MEANINGS,
    "material_lot.status": LOT_STATUS_MEANINGS,
    "work_order.status": WORK_ORDER_STATUS_MEANINGS,
    "quality_inspection.inspection_type": INSPECTION_TYPE_MEANINGS,
    "quality_inspection.result": INSPECTION_RESULT_MEANINGS,
    "quality_inspection.disposition": DISPOSITION_MEANINGS,
    "equipment_status.status": EQUIPMENT_STATE_MEANINGS,
    "inventory_movement.movement_type": MOVEMENT_TYPE_MEANINGS,
}


def allowed_values(table: str, column: str) -> dict[str, str] | None:
    """{value: meaning} for an enumerated column, None for a free one."""
    return ALLOWED_VALUES.get(f"{table}.{column}")


supplier = Table(
    "supplier",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("supplier_code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2)),
    Column("qualification_status", String(20), nullable=False),
    *_timestamps(),
    _in("qualification_status", QUALIFICATION_STATUS),
)

customer = Table(
    "customer",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2)),
    *_timestamps(),
)

material = Table(
    "material",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("material_code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("spec", String(200)),
    Column("material_type", String(20), nullable=False),
    Column("base_uom", String(10), nullable=False),
    Column("shelf_life_days", Integer),
    *_timestamps(),
    _in("material_type", MATERIAL_TYPE),
    CheckConstraint("shelf_life_days IS NULL OR shelf_life_days >= 0", name="shelf_life_nonnegative"),
)

equipment = Table(
    "equipment",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("equipment_code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("line", String(40)),
    Column("work_center", String(40)),
    Column("equipment_type", String(40)),
    *_timestamps(),
)

material_lot = Table(
    "material_lot",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("lot_no", String(60), nullable=False, unique=True),
    Column("material_id", Integer, ForeignKey("material.id"), nullable=False, index=True),
    Column("supplier_id", Integer, ForeignKey("supplier.id"), index=True),  # null for produced lots
    Column("supplier_lot_no", String(60)),
    Column("quantity", ExactDecimal, nullable=False),
    Column("uom", String(10), nullable=False),
    Column("manufactured_on", Date),
    Column("received_on", Date),
    Column("expires_on", Date),
    Column("status", String(20), nullable=False),
    Column("warehouse", String(40)),
    *_timestamps(),
    _in("status", LOT_STATUS),
    CheckConstraint("quantity >= 0", name="quantity_nonnegative"),
    CheckConstraint(
        "expires_on IS NULL OR manufactured_on IS NULL OR expires_on >= manufactured_on",
        name="expiry_after_manufacture",
    ),
)

work_order = Table(
    "work_order",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("work_order_no", String(40), nullable=False, unique=True),
    Column("material_id", Integer, ForeignKey("material.id"), nullable=False, index=True),
    Column("planned_qty", ExactDecimal, nullable=False),
    Column("actual_qty", ExactDecimal),
    Column("uom", String(10), nullable=False),
    Column("line", String(40)),
    Column("status", String(20), nullable=False),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    *_timestamps(),
    _in("status", WORK_ORDER_STATUS),
)

lot_genealogy = Table(
    "lot_genealogy",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("parent_lot_id", Integer, ForeignKey("material_lot.id"), nullable=False, index=True),
    Column("child_lot_id", Integer, ForeignKey("material_lot.id"), nullable=False, index=True),
    Column("work_order_id", Integer, ForeignKey("work_order.id"), nullable=False, index=True),
    Column("quantity", ExactDecimal, nullable=False),
    Column("uom", String(10), nullable=False),
    *_timestamps(),
    UniqueConstraint("parent_lot_id", "child_lot_id", "work_order_id"),
    CheckConstraint("parent_lot_id <> child_lot_id", name="no_self_link"),
)

process_parameter = Table(
    "process_parameter",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("work_order_id", Integer, ForeignKey("work_order.id"), nullable=False, index=True),
    Column("equipment_id", Integer, ForeignKey("equipment.id"), nullable=False, index=True),
    Column("parameter", String(60), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("value", ExactDecimal, nullable=False),
    Column("uom", String(10)),
    Column("lower_limit", ExactDecimal),
    Column("upper_limit", ExactDecimal),
    Column("in_spec", Boolean),
    *_timestamps(),
    UniqueConstraint("work_order_id", "equipment_id", "parameter", "recorded_at"),
)

quality_inspection = Table(
    "quality_inspection",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("inspection_no", String(40), nullable=False, unique=True),
    Column("lot_id", Integer, ForeignKey("material_lot.id"), nullable=False, index=True),
    Column("inspection_type", String(20), nullable=False),
    Column("characteristic", String(100), nullable=False),
    Column("measured_value", ExactDecimal),
    Column("uom", String(10)),
    Column("result", String(10), nullable=False),
    Column("inspector", String(60)),
    Column("inspected_at", UtcDateTime, nullable=False),
    Column("disposition", String(20)),
    *_timestamps(),
    _in("inspection_type", INSPECTION_TYPE),
    _in("result", INSPECTION_RESULT),
    CheckConstraint(
        "disposition IS NULL OR disposition IN (" + ", ".join(f"'{d}'" for d in DISPOSITION) + ")",
        name="disposition_allowed",
        info={"allowed": ("disposition", DISPOSITION)},
    ),
)

equipment_status = Table(
    "equipment_status",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("equipment_id", Integer, ForeignKey("equipment.id"), nullable=False, index=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("status", String(20), nullable=False),
    Column("ended_at", UtcDateTime),
    Column("reason", String(200)),
    *_timestamps(),
    UniqueConstraint("equipment_id", "started_at"),
    _in("status", EQUIPMENT_STATE),
    CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
)

inventory_movement = Table(
    "inventory_movement",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("movement_no", String(40), nullable=False, unique=True),
    Column("lot_id", Integer, ForeignKey("material_lot.id"), nullable=False, index=True),
    Column("movement_type", String(20), nullable=False),
    Column("quantity", ExactDecimal, nullable=False),  # signed: issues are negative
    Column("uom", String(10), nullable=False),
    Column("warehouse", String(40)),
    Column("moved_at", UtcDateTime, nullable=False),
    Column("reference", String(60)),
    *_timestamps(),
    _in("movement_type", MOVEMENT_TYPE),
)

shipment = Table(
    "shipment",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("shipment_no", String(40), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("lot_id", Integer, ForeignKey("material_lot.id"), nullable=False, index=True),
    Column("quantity", ExactDecimal, nullable=False),
    Column("uom", String(10), nullable=False),
    Column("shipped_at", UtcDateTime, nullable=False),
    *_timestamps(),
    UniqueConstraint("shipment_no", "line_no"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

MODEL_TABLES: tuple[Table, ...] = (
    supplier,
    customer,
    material,
    equipment,
    material_lot,
    work_order,
    lot_genealogy,
    process_parameter,
    quality_inspection,
    equipment_status,
    inventory_movement,
    shipment,
)
# ids unique for the life of a target: SQLite without AUTOINCREMENT would give a new row the
# id of a deleted newest one (alembic 0005; PostgreSQL's sequences never reuse an id)
for _table in MODEL_TABLES:
    _table.dialect_options["sqlite"]["autoincrement"] = True


@dataclass(frozen=True)
class Reference:
    """A mapped column holding a natural key that resolves to a foreign key."""

    column: str  # in mapped rows, e.g. "parent_lot_no"
    fk_column: str  # in the target table, e.g. "parent_lot_id"
    entity: str  # referenced entity, e.g. "material_lot"
    nullable: bool


@dataclass(frozen=True)
class Entity:
    """One target entity as the stages see it."""

    name: str
    table: Table
    natural_key: tuple[str, ...]  # in mapped-row terms
    references: tuple[Reference, ...]

    @property
    def key_column(self) -> str:
        """The referenced entity's single natural-key column (every referenced entity has one)."""
        (column,) = self.natural_key
        return column

    @property
    def data_columns(self) -> tuple[str, ...]:
        """Target columns filled from mapped rows as they are (not ids, references, timestamps)."""
        skip = {"id", "created_at", "updated_at"} | {r.fk_column for r in self.references}
        return tuple(c.name for c in self.table.columns if c.name not in skip)

    @property
    def mapped_columns(self) -> tuple[str, ...]:
        """The columns a mapped row of this entity has, in table order."""
        by_fk = {r.fk_column: r.column for r in self.references}
        out = []
        for c in self.table.columns:
            if c.name in ("id", "created_at", "updated_at"):
                continue
            out.append(by_fk.get(c.name, c.name))
        return tuple(out)

    @property
    def depends_on(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.entity for r in self.references if r.entity != self.name))


def _entity(table: Table, natural_key: tuple[str, ...], refs: dict[str, tuple[str, str]]) -> Entity:
    references = tuple(
        Reference(column=col, fk_column=fk, entity=ent, nullable=table.c[fk].nullable)
        for col, (fk, ent) in refs.items()
    )
    return Entity(table.name, table, natural_key, references)


ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        _entity(supplier, ("supplier_code",), {}),
        _entity(customer, ("customer_code",), {}),
        _entity(material, ("material_code",), {}),
        _entity(equipment, ("equipment_code",), {}),
        _entity(
            material_lot,
            ("lot_no",),
            {"material_code": ("material_id", "material"), "supplier_code": ("supplier_id", "supplier")},
        ),
        _entity(work_order, ("work_order_no",), {"material_code": ("material_id", "material")}),
        _entity(
            lot_genealogy,
            ("parent_lot_no", "child_lot_no", "work_order_no"),
            {
                "parent_lot_no": ("parent_lot_id", "material_lot"),
                "child_lot_no": ("child_lot_id", "material_lot"),
                "work_order_no": ("work_order_id", "work_order"),
            },
        ),
        _entity(
            process_parameter,
            ("work_order_no", "equipment_code", "parameter", "recorded_at"),
            {
                "work_order_no": ("work_order_id", "work_order"),
                "equipment_code": ("equipment_id", "equipment"),
            },
        ),
        _entity(quality_inspection, ("inspection_no",), {"lot_no": ("lot_id", "material_lot")}),
        _entity(
            equipment_status,
            ("equipment_code", "started_at"),
            {"equipment_code": ("equipment_id", "equipment")},
        ),
        _entity(inventory_movement, ("movement_no",), {"lot_no": ("lot_id", "material_lot")}),
        _entity(
            shipment,
            ("shipment_no", "line_no"),
            {"customer_code": ("customer_id", "customer"), "lot_no": ("lot_id", "material_lot")},
        ),
    )
}


@dataclass(frozen=True)
class MappedColumn:
    """One column of a mapped row, as a person filling a mapping needs to know it."""

    name: str
    type: str  # text(40), decimal(18,6), integer, date, timestamp, boolean
    required: bool  # NOT NULL in the model: a mapping must fill it
    in_key: bool  # part of the entity's natural key
    reference: Reference | None  # a natural key of another entity, resolved to its id at load
    allowed: dict[str, str] | None  # allowed value -> meaning, for an enumerated column


def type_label(column: Column) -> str:
    kind = column.type
    if isinstance(kind, ExactDecimal):
        return f"decimal(18,{QUANTITY_SCALE})"
    if isinstance(kind, UtcDateTime):
        return "timestamp"
    if isinstance(kind, String):
        return f"text({kind.length})" if kind.length else "text"
    return {Integer: "integer", Boolean: "boolean", Date: "date"}.get(type(kind), str(kind).lower())


def mapped_column_info(name: str) -> tuple[MappedColumn, ...]:
    """Every column of the entity's mapped rows, in table order, with type, key and allowed values."""
    found = ENTITIES[name]
    by_fk = {r.fk_column: r for r in found.references}
    out = []
    for column in found.table.columns:
        if column.name in ("id", "created_at", "updated_at"):
            continue
        ref = by_fk.get(column.name)
        shown = ref.column if ref else column.name
        target = ENTITIES[ref.entity] if ref else None
        label = type_label(target.table.c[target.key_column]) if target else type_label(column)
        out.append(
            MappedColumn(
                shown,
                label,
                not column.nullable,
                shown in found.natural_key,
                ref,
                allowed_values(found.name, column.name),
            )
        )
    return tuple(out)


#: Entities in an order where every entity comes after those it references (tested).
LOAD_ORDER: tuple[str, ...] = tuple(ENTITIES)


def entity(name: str) -> Entity:
    from migrate.errors import ConfigError, did_you_mean
    from migrate.yamlio import excerpt

    try:
        return ENTITIES[name]
    except KeyError:
        known = ", ".join(ENTITIES)
        raise ConfigError(
            f"unknown entity {excerpt(name)!r}{did_you_mean(name, ENTITIES)}; the unified model has: {known}."
        ) from None


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- the toolkit's own records in the target -------------------------------------------

#: Hash-chained log of every state-changing command (docs/guarantees.md#tamper-evident-audit);
#: see migrate.audit.
audit_log = Table(
    "migrate_audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("operator", String(120), nullable=False),
    Column("command", String(200), nullable=False),
    Column("details", String, nullable=False),  # canonical JSON, secrets redacted
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

#: One row: the chain's last sequence number and hash. Updating it first serialises
#: appenders (a write lock on SQLite, a row lock on PostgreSQL) and makes a deleted tail
#: entry detectable.
audit_head = Table(
    "migrate_audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)


# --- load control tables (migrate.load) ----------------------------------------------
# They live in the target so that a chunk's rows, its ledger entries and its checkpoint
# commit in one transaction: that is what makes resume exactly-once and rollback exact.

#: One row per `migrate load` invocation: who, when, what, on which inputs.
load_run = Table(
    "migrate_load_run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("operator", String(120), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("command", String(500), nullable=False),
    Column("mode", String(10), nullable=False),
    Column("chunk_size", Integer, nullable=False),
    Column("project_fingerprint", String(64)),
    Column("input_fingerprints", String, nullable=False),  # JSON {entity: sha256 of map_<entity>}
    Column("status", String(20), nullable=False),  # running / completed / failed / interrupted
    Column("summary", String),  # JSON per-entity counters, written when the run ends
)

#: Where each entity's current load pass stands. Rewritten inside every chunk's transaction.
load_checkpoint = Table(
    "migrate_load_checkpoint",
    metadata,
    Column("entity", String(60), primary_key=True),
    Column("pass_run_id", Integer, nullable=False),  # the run that started this pass
    Column("run_id", Integer, nullable=False),  # the run that wrote the last chunk
    Column("fingerprint", String(64), nullable=False),
    Column("mode", String(10), nullable=False),
    Column("chunk_size", Integer, nullable=False),
    Column("total_rows", Integer, nullable=False),
    Column("next_chunk", Integer, nullable=False),
    Column("last_row_id", Integer, nullable=False),  # map_<entity>._row_id of the last committed row
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("deleted", Integer, nullable=False),
    Column("status", String(20), nullable=False),  # loading / done
    Column("at", UtcDateTime, nullable=False),
)

#: One row per chunk committed by a load on several connections (`migrate load --jobs N`),
#: inserted in that chunk's transaction: the chunks may commit in any order, so resume loads
#: those without a row. The pass's last transaction folds them into the checkpoint and
#: deletes them (migrate.load.parallel).
load_chunk = Table(
    "migrate_load_chunk",
    metadata,
    Column("entity", String(60), primary_key=True),
    Column("pass_run_id", Integer, primary_key=True, autoincrement=False),
    Column("chunk_no", Integer, primary_key=True, autoincrement=False),
    Column("run_id", Integer, nullable=False),  # the run that committed the chunk
    Column("fingerprint", String(64), nullable=False),
    Column("mode", String(10), nullable=False),
    Column("chunk_size", Integer, nullable=False),
    Column("total_rows", Integer, nullable=False),
    Column("first_row_id", Integer, nullable=False),  # map_<entity>._row_id of its first and last rows
    Column("last_row_id", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

#: Every row change a load made, in order: enough to undo it exactly (rollback replays it
#: backwards). `insert`: the inserted ids id_lo..id_hi; `update`/`delete`: one row id and
#: its full before-image as JSON.
load_ledger = Table(
    "migrate_load_ledger",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("run_id", Integer, nullable=False, index=True),
    Column("entity", String(60), nullable=False),
    Column("chunk_no", Integer, nullable=False),
    Column("op", String(10), nullable=False),
    Column("id_lo", Integer, nullable=False),
    Column("id_hi", Integer, nullable=False),
    Column("before", String),
    CheckConstraint("op IN ('insert', 'update', 'delete')", name="op_allowed"),
)

#: The one-writer lease. On PostgreSQL an advisory lock is the lock and this row only names
#: the holder; on SQLite the row is the lock, taken in BEGIN IMMEDIATE, with an expiry.
load_lease = Table(
    "migrate_lease",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("operator", String(120), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("run_id", Integer),
    Column("command", String(500), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

#: Every row a load inserted, with its natural key and a digest of its content as written
#: (`migrate.load.written`): the undo of an insert deletes only rows that still match. One row
#: per row, as loads before alembic 0009 wrote them: still honoured and cleared, no longer written.
load_written = Table(
    "migrate_load_written",
    metadata,
    Column("entity", String(60), primary_key=True),
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("natural_key", String, nullable=False),  # JSON text of the stored key values
    Column("row_digest", String(32), nullable=False),
)

#: The same records, one row per inserted id range (alembic 0009): `records` is a JSON array
#: of `[id, natural key JSON text, digest]`, one element per row of the range.
load_written_range = Table(
    "migrate_load_written_range",
    metadata,
    Column("entity", String(60), primary_key=True),
    Column("id_lo", Integer, primary_key=True, autoincrement=False),
    Column("id_hi", Integer, nullable=False),
    Column("records", String, nullable=False),
)


# --- cutover points and rollbacks (migrate.rollback) ----------------------------------

#: A named state of the target a rollback can return to: the ledger position and the
#: content hash of every model table at that instant (taken under the one-writer lease).
#: A point is superseded once a rollback undoes a ledger entry at or before its position.
cutover_point = Table(
    "migrate_cutover_point",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(63), nullable=False, index=True),
    Column("phase", String(63)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("operator", String(120), nullable=False),
    Column("ledger_seq", Integer, nullable=False),  # the last ledger seq the point includes (0: none)
    Column("hashes", String, nullable=False),  # JSON {table: content_hash}
    Column("superseded_by", Integer),  # the rollback run that undid part of it
)

#: One row per `migrate rollback run`; its counters move inside every chunk's transaction.
rollback_run = Table(
    "migrate_rollback_run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("point_id", Integer, nullable=False),
    Column("point", String(63), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("operator", String(120), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("command", String(500), nullable=False),
    Column("status", String(20), nullable=False),  # running / completed / mismatch / failed
    Column("undone", Integer, nullable=False),  # ledger entries undone so far
    Column("chunks", Integer, nullable=False),
    Column("summary", String),  # JSON: tables that differ from the point, counters per entity
)

#: Ledger entries a rollback undid, moved here in the chunk that undid them: the live
#: ledger then describes exactly the target's present history, and nothing is forgotten.
rollback_undone = Table(
    "migrate_rollback_undone",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rollback_id", Integer, nullable=False, index=True),
    Column("seq", Integer, nullable=False),  # SQLite reuses ledger seqs after a rollback: not a key
    Column("run_id", Integer, nullable=False),
    Column("entity", String(60), nullable=False),
    Column("chunk_no", Integer, nullable=False),
    Column("op", String(10), nullable=False),
    Column("id_lo", Integer, nullable=False),
    Column("id_hi", Integer, nullable=False),
    Column("before", String),
)


#: The last content hash computed of each model table (migrate.load.hashcache). On PostgreSQL a
#: statement trigger on every model table notes each write in `migrate_table_write`; a table
#: with no note since its hash, whose trigger still fires and whose write counters have not
#: moved (`stamp`), is not read again. NULL: never hashed, or hashed only on SQLite.
table_hash = Table(
    "migrate_table_hash",
    metadata,
    Column("table_name", String(63), primary_key=True),
    Column("hash", String(64)),
    Column("stamp", String(200)),  # relfilenode and write counters when hashed (PostgreSQL)
    Column("hashed_at", UtcDateTime),
)

#: One row per table written since its last hash (more only while writers overlap): the
#: statement trigger inserts it, the next hash deletes it in the transaction that stores it.
table_write = Table(
    "migrate_table_write",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("table_name", String(63), nullable=False, index=True),
)


# --- signatures and audit anchors (migrate.signing, migrate.anchors) ----------------------

#: One SSHSIG signature over a phase's evidence: the exact statement signed (canonical JSON
#: naming the evidence hash, signer, role, meaning, time) and OpenSSH's armored signature.
signature = Table(
    "migrate_signature",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("phase", String(63), nullable=False, index=True),
    Column("signer", String(63), nullable=False),
    Column("printed_name", String(200), nullable=False),
    Column("role", String(63), nullable=False),
    Column("meaning", String(20), nullable=False),
    Column("signed_at", UtcDateTime, nullable=False),
    Column("evidence_sha256", String(64), nullable=False),
    Column("key_fingerprint", String(100), nullable=False),
    Column("statement", String, nullable=False),
    Column("signature", String, nullable=False),
)

#: Where the audit chain stood when something that must outlive it was recorded (a cutover
#: point, a signature, an evidence pack): a chain shorter than an anchor was cut.
audit_anchor = Table(
    "migrate_audit_anchor",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("ref", String(200), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)
