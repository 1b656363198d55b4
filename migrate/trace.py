"""Lot traceability in the target: from a lot back to its suppliers, or forward to customers.

One recursive query over `lot_genealogy` per direction (SQLite and PostgreSQL both have
WITH RECURSIVE); a depth cap stops a cyclic genealogy from looping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from sqlalchemy import Engine, bindparam, text

from migrate.errors import MigrateError
from migrate.model import UtcDateTime, to_decimal

MAX_DEPTH = 50

_LOT = """
SELECT l.id, l.lot_no, m.material_code, m.name AS material_name, s.supplier_code, l.supplier_lot_no,
       l.quantity, l.uom, l.status
FROM material_lot l JOIN material m ON m.id = l.material_id LEFT JOIN supplier s ON s.id = l.supplier_id
WHERE l.{column} = :value
"""

# parent -> child links reachable from the start lot; `near`/`far` flip with the direction.
_WALK = """
WITH RECURSIVE walk(near_id, far_id, work_order_id, quantity, uom, depth) AS (
    SELECT g.{near}, g.{far}, g.work_order_id, g.quantity, g.uom, 1
    FROM lot_genealogy g WHERE g.{near} = :start
    UNION ALL
    SELECT g.{near}, g.{far}, g.work_order_id, g.quantity, g.uom, w.depth + 1
    FROM lot_genealogy g JOIN walk w ON g.{near} = w.far_id
    WHERE w.depth < :max_depth
)
SELECT DISTINCT w.depth, n.lot_no AS from_lot, f.lot_no AS to_lot, wo.work_order_no, w.quantity, w.uom
FROM walk w
JOIN material_lot n ON n.id = w.near_id
JOIN material_lot f ON f.id = w.far_id
JOIN work_order wo ON wo.id = w.work_order_id
ORDER BY w.depth, from_lot, to_lot, wo.work_order_no
"""

_SHIPMENTS = """
SELECT l.lot_no, s.shipment_no, s.line_no, c.customer_code, s.quantity, s.uom, s.shipped_at
FROM shipment s JOIN customer c ON c.id = s.customer_id JOIN material_lot l ON l.id = s.lot_id
WHERE l.lot_no IN :lots ORDER BY l.lot_no, s.shipment_no, s.line_no
"""

_INSPECTIONS = """
SELECT l.lot_no, q.inspection_no, q.inspection_type, q.characteristic, q.result, q.disposition
FROM quality_inspection q JOIN material_lot l ON l.id = q.lot_id
WHERE l.lot_no IN :lots ORDER BY l.lot_no, q.inspection_no
"""


@dataclass(frozen=True)
class TraceLink:
    depth: int
    from_lot: str
    to_lot: str
    work_order_no: str
    quantity: Decimal
    uom: str


@dataclass(frozen=True)
class TraceResult:
    lot_no: str
    direction: Literal["backward", "forward"]
    lot: dict
    links: tuple[TraceLink, ...]
    lots: dict[str, dict] = field(default_factory=dict)  # every lot reached, with material and supplier
    shipments: tuple[dict, ...] = ()
    inspections: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        return {
            "lot_no": self.lot_no,
            "direction": self.direction,
            "lot": self.lot,
            "links": [link.__dict__ for link in self.links],
            "lots": self.lots,
            "shipments": list(self.shipments),
            "inspections": list(self.inspections),
        }


def trace(engine: Engine, lot_no: str, direction: Literal["backward", "forward"] = "backward") -> TraceResult:
    """Every lot linked to `lot_no` through genealogy in one direction, with their shipments
    (forward) or suppliers and inspections (both)."""
    near, far = (
        ("child_lot_id", "parent_lot_id") if direction == "backward" else ("parent_lot_id", "child_lot_id")
    )
    with engine.connect() as c:
        start = c.execute(text(_LOT.format(column="lot_no")), {"value": lot_no}).mappings().first()
        if start is None:
            raise MigrateError(f"lot {lot_no!r} is not in the target.", key=lot_no)
        rows = c.execute(
            text(_WALK.format(near=near, far=far)), {"start": start["id"], "max_depth": MAX_DEPTH}
        )
        links = tuple(TraceLink(d, a, b, wo, to_decimal(q), u) for d, a, b, wo, q, u in rows)
        reached = sorted({lot_no} | {link.to_lot for link in links})
        lots = {
            r["lot_no"]: _public(r)
            for value in reached
            for r in c.execute(text(_LOT.format(column="lot_no")), {"value": value}).mappings()
        }
        params = {"lots": tuple(reached)}
        ship = text(_SHIPMENTS).bindparams(bindparam("lots", expanding=True))
        insp = text(_INSPECTIONS).bindparams(bindparam("lots", expanding=True))
        shipments = (
            tuple(_public(r) for r in c.execute(ship, params).mappings()) if direction == "forward" else ()
        )
        inspections = tuple(_public(r) for r in c.execute(insp, params).mappings())
    return TraceResult(lot_no, direction, _public(start), links, lots, shipments, inspections)


def _public(row) -> dict:
    """A row as plain values, typed the same on both backends (raw SQL skips the model's types)."""
    out = {}
    for key, value in dict(row).items():
        if key == "id":
            continue
        if key == "quantity" and value is not None:
            value = to_decimal(value)
        elif key.endswith("_at") and value is not None:
            value = UtcDateTime().process_result_value(value, None)
        out[key] = value
    return out
