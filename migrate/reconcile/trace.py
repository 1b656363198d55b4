"""Traceability: every lot's chain is complete where the source says it should be.

Each check is run twice with SQL: on the mapped rows in the work store (what the source
says, natural keys) and on the target (ids joined). A break found in the target that the
source did not have is a failure, named by its key; a break the source already had is
reported (the legacy data was incomplete) but is not the migration's fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from migrate.store import WorkStore, mapped_table


@dataclass(frozen=True)
class TraceCheck:
    name: str
    description: str
    key: tuple[str, ...]
    needs: tuple[str, ...]  # entities whose mapped rows the check reads
    expected_sql: str  # over map_<entity> tables (natural keys)
    target_sql: str  # over the target (ids)


_ORIGIN = "('receipt', 'production_receipt')"
CHECKS: tuple[TraceCheck, ...] = (
    TraceCheck(
        "lot_origin",
        "every lot has a receipt or production (a receipt movement or a genealogy link producing it)",
        ("lot_no",),
        ("material_lot", "inventory_movement", "lot_genealogy"),
        "SELECT m.lot_no FROM map_material_lot m WHERE NOT EXISTS (SELECT 1 FROM map_inventory_movement i "
        f"WHERE i.lot_no = m.lot_no AND i.movement_type IN {_ORIGIN}) AND NOT EXISTS "
        "(SELECT 1 FROM map_lot_genealogy g WHERE g.child_lot_no = m.lot_no)",
        "SELECT m.lot_no FROM material_lot m WHERE NOT EXISTS (SELECT 1 FROM inventory_movement i "
        f"WHERE i.lot_id = m.id AND i.movement_type IN {_ORIGIN}) AND NOT EXISTS "
        "(SELECT 1 FROM lot_genealogy g WHERE g.child_lot_id = m.id)",
    ),
    TraceCheck(
        "genealogy_links",
        "every genealogy link points at an existing parent lot, child lot and work order",
        ("parent_lot_no", "child_lot_no", "work_order_no"),
        ("lot_genealogy", "material_lot", "work_order"),
        "SELECT g.parent_lot_no, g.child_lot_no, g.work_order_no FROM map_lot_genealogy g "
        "WHERE NOT EXISTS (SELECT 1 FROM map_material_lot p WHERE p.lot_no = g.parent_lot_no) "
        "OR NOT EXISTS (SELECT 1 FROM map_material_lot c WHERE c.lot_no = g.child_lot_no) "
        "OR NOT EXISTS (SELECT 1 FROM map_work_order w WHERE w.work_order_no = g.work_order_no)",
        "SELECT p.lot_no, c.lot_no, w.work_order_no FROM lot_genealogy g "
        "LEFT JOIN material_lot p ON p.id = g.parent_lot_id LEFT JOIN material_lot c ON c.id = g.child_lot_id "
        "LEFT JOIN work_order w ON w.id = g.work_order_id "
        "WHERE p.id IS NULL OR c.id IS NULL OR w.id IS NULL",
    ),
    TraceCheck(
        "released_inspected",
        "every released lot has a quality inspection",
        ("lot_no",),
        ("material_lot", "quality_inspection"),
        "SELECT m.lot_no FROM map_material_lot m WHERE m.status = 'released' AND NOT EXISTS "
        "(SELECT 1 FROM map_quality_inspection q WHERE q.lot_no = m.lot_no)",
        "SELECT m.lot_no FROM material_lot m WHERE m.status = 'released' AND NOT EXISTS "
        "(SELECT 1 FROM quality_inspection q WHERE q.lot_id = m.id)",
    ),
    TraceCheck(
        "shipment_lots",
        "every shipment line ships an existing lot",
        ("shipment_no", "line_no"),
        ("shipment", "material_lot"),
        "SELECT s.shipment_no, s.line_no FROM map_shipment s WHERE NOT EXISTS "
        "(SELECT 1 FROM map_material_lot m WHERE m.lot_no = s.lot_no)",
        "SELECT s.shipment_no, CAST(s.line_no AS TEXT) FROM shipment s "
        "LEFT JOIN material_lot m ON m.id = s.lot_id WHERE m.id IS NULL",
    ),
)


@dataclass(frozen=True)
class TraceResult:
    name: str
    description: str
    applicable: bool
    key: tuple[str, ...]
    expected_breaks: frozenset[tuple[str, ...]] = frozenset()
    target_breaks: frozenset[tuple[str, ...]] = frozenset()
    max_listed: int = 100

    @property
    def new_in_target(self) -> list[tuple[str, ...]]:
        return sorted(self.target_breaks - self.expected_breaks)

    @property
    def fixed_in_target(self) -> list[tuple[str, ...]]:
        return sorted(self.expected_breaks - self.target_breaks)

    @property
    def ok(self) -> bool:
        return not self.new_in_target

    def to_dict(self) -> dict[str, Any]:
        def keys(items: list[tuple[str, ...]]) -> list[dict[str, Any]]:
            return [dict(zip(self.key, k, strict=True)) for k in items[: self.max_listed]]

        return {
            "name": self.name,
            "description": self.description,
            "applicable": self.applicable,
            "ok": self.ok,
            "breaks_in_source": len(self.expected_breaks),
            "breaks_in_target": len(self.target_breaks),
            "new_in_target": keys(self.new_in_target),
            "source_breaks_absent_in_target": keys(self.fixed_in_target),
        }


def trace(store: WorkStore, target: Engine, entities: tuple[str, ...]) -> list[TraceResult]:
    """The checks that concern the chosen entities and whose mapped inputs exist."""
    out = []
    for check in CHECKS:
        if check.needs[0] not in entities:
            continue
        if not all(store.has_table(mapped_table(e)) for e in check.needs):
            out.append(TraceResult(check.name, check.description, False, check.key))
            continue
        out.append(
            TraceResult(
                check.name,
                check.description,
                True,
                check.key,
                _keys(store.engine, check.expected_sql),
                _keys(target, check.target_sql),
            )
        )
    return out


def _keys(engine: Engine, sql: str) -> frozenset[tuple[str, ...]]:
    with engine.connect() as c:
        return frozenset(tuple("" if v is None else str(v) for v in row) for row in c.exec_driver_sql(sql))
