"""Mapped rows in the work-store contract's shape, written the way map writes them.

Until map lands, load's tests make their own `map_<entity>` tables: every entity, a
process-parameter table as large as asked, canonical text values, lineage columns.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from migrate.model import ENTITIES
from migrate.store import LINEAGE, mapped_table

T0 = datetime(2024, 3, 1, 0, 30, tzinfo=UTC)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def parents() -> dict[str, list[dict]]:
    """Small, valid parent entities (every reference resolves)."""
    rows: dict[str, list[dict]] = {}
    rows["supplier"] = [
        dict(supplier_code=f"S{i:03}", name=f"供应商{i}", country="CN", qualification_status="approved")
        for i in range(5)
    ]
    rows["customer"] = [dict(customer_code=f"C{i:03}", name=f"客户{i}", country="DE") for i in range(3)]
    rows["material"] = [
        dict(
            material_code=f"M{i:04}",
            name=f"物料{i}",
            spec=None,
            material_type="raw",
            base_uom="kg",
            shelf_life_days="365",
        )
        for i in range(10)
    ]
    rows["equipment"] = [
        dict(equipment_code=f"E{i:02}", name=f"设备{i}", line="L1", work_center="WC1", equipment_type="mixer")
        for i in range(5)
    ]
    rows["material_lot"] = [
        dict(
            lot_no=f"LOT{i:05}",
            material_code=f"M{i % 10:04}",
            supplier_code=None if i % 7 == 0 else f"S{i % 5:03}",
            supplier_lot_no=f"SL{i}",
            quantity=f"{100 + i}.125000",
            uom="kg",
            manufactured_on="2024-01-02",
            received_on="2024-01-05",
            expires_on="2025-01-02",
            status="released",
            warehouse="WH1",
        )
        for i in range(40)
    ]
    rows["work_order"] = [
        dict(
            work_order_no=f"WO{i:04}",
            material_code=f"M{i % 10:04}",
            planned_qty="500.000000",
            actual_qty="498.500000",
            uom="kg",
            line="L1",
            status="completed",
            started_at=_iso(T0 + timedelta(hours=i)),
            finished_at=_iso(T0 + timedelta(hours=i, minutes=50)),
        )
        for i in range(20)
    ]
    rows["lot_genealogy"] = [
        dict(
            parent_lot_no=f"LOT{i:05}",
            child_lot_no=f"LOT{i + 20:05}",
            work_order_no=f"WO{i:04}",
            quantity="10.000000",
            uom="kg",
        )
        for i in range(20)
    ]
    rows["quality_inspection"] = [
        dict(
            inspection_no=f"QI{i:05}",
            lot_no=f"LOT{i % 40:05}",
            inspection_type="incoming",
            characteristic="moisture",
            measured_value="0.125000",
            uom="%",
            result="pass",
            inspector="王",
            inspected_at=_iso(T0 + timedelta(minutes=i)),
            disposition="accepted",
        )
        for i in range(30)
    ]
    rows["equipment_status"] = [
        dict(
            equipment_code=f"E{i % 5:02}",
            started_at=_iso(T0 + timedelta(hours=i)),
            status="running",
            ended_at=_iso(T0 + timedelta(hours=i, minutes=30)),
            reason=None,
        )
        for i in range(15)
    ]
    rows["inventory_movement"] = [
        dict(
            movement_no=f"MV{i:05}",
            lot_no=f"LOT{i % 40:05}",
            movement_type="issue",
            quantity="-1.500000",
            uom="kg",
            warehouse="WH1",
            moved_at=_iso(T0 + timedelta(minutes=3 * i)),
            reference=None,
        )
        for i in range(30)
    ]
    rows["shipment"] = [
        dict(
            shipment_no=f"SH{i // 2:04}",
            line_no=str(i % 2 + 1),
            customer_code=f"C{i % 3:03}",
            lot_no=f"LOT{i % 40:05}",
            quantity="2.000000",
            uom="kg",
            shipped_at=_iso(T0 + timedelta(days=i)),
        )
        for i in range(10)
    ]
    return rows


def process_parameters(n: int) -> list[dict]:
    """`n` distinct process-parameter rows (natural keys unique), some with microseconds."""
    out = []
    for i in range(n):
        at = T0 + timedelta(seconds=i, microseconds=(i * 7919) % 1_000_000 if i % 3 == 0 else 0)
        value = f"{(i * 37) % 1000}.{i % 1_000_000:06}"
        out.append(
            dict(
                work_order_no=f"WO{i % 20:04}",
                equipment_code=f"E{i % 5:02}",
                parameter=f"temp{i % 4}",
                recorded_at=_iso(at),
                value=value,
                uom="°C",
                lower_limit="0.000000",
                upper_limit="999.000000",
                in_spec="true" if i % 11 else "false",
            )
        )
    return out


def write_table(con: sqlite3.Connection, entity: str, rows: list[dict]) -> None:
    table = mapped_table(entity)
    columns = ENTITIES[entity].mapped_columns
    con.execute(f'DROP TABLE IF EXISTS "{table}"')
    cols = ", ".join(f'"{c}" TEXT' for c in (*LINEAGE, *columns))
    con.execute(f'CREATE TABLE "{table}" ("_row_id" INTEGER PRIMARY KEY, {cols})')
    marks = ", ".join("?" for _ in range(len(LINEAGE) + len(columns) + 1))
    con.executemany(
        f'INSERT INTO "{table}" VALUES ({marks})',
        [
            (i + 1, "mes", f"{entity}.csv", None, i + 2, *(r.get(c) for c in columns))
            for i, r in enumerate(rows)
        ],
    )


def make_store(path: Path, pp: int | list[dict] = 20_000, extra: dict[str, list[dict]] | None = None) -> str:
    """A work store (SQLite file) with mapped rows of every entity; returns its URL."""
    rows = {**parents(), **(extra or {})}
    rows["process_parameter"] = process_parameters(pp) if isinstance(pp, int) else pp
    con = sqlite3.connect(path)
    with con:
        for entity in ENTITIES:
            write_table(con, entity, rows.get(entity, []))
    con.close()
    return f"sqlite:///{path}"
