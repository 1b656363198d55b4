"""The legacy MES database: work orders, lot consumption, equipment, status log, process parameters.

The schema is portable SQL (`mes_ddl`), so a test can create and fill the same tables in
PostgreSQL (`copy_mes`). Timestamps are local-time text, as the MES stored them, so an
impossible date like 2024-02-30 survives in either database. A row's manifest position
is its primary key (ids are 1..n in insertion order).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from migrate.factory.manifest import Defect, Manifest, Rows
from migrate.factory.render import EQUIPMENT_STATE, WO_STATUS, reverse
from migrate.factory.sources import Template, plant_all
from migrate.factory.world import World

MES_FILE = "legacy/mes.db"
CHUNK = 10_000

#: table -> (primary key, columns with portable types). Order = creation and fill order.
MES_TABLES: dict[str, list[tuple[str, str]]] = {
    "equipment": [
        ("equipment_id", "INTEGER NOT NULL PRIMARY KEY"),
        ("equip_code", "VARCHAR(40)"),
        ("equip_name", "VARCHAR(100)"),
        ("line_code", "VARCHAR(10)"),
        ("work_center", "VARCHAR(40)"),
        ("equip_type", "VARCHAR(40)"),
    ],
    "work_orders": [
        ("wo_id", "INTEGER NOT NULL PRIMARY KEY"),
        ("wo_no", "VARCHAR(40)"),
        ("product_code", "VARCHAR(40)"),
        ("planned_qty", "NUMERIC(18,3)"),
        ("actual_qty", "NUMERIC(18,3)"),
        ("uom", "VARCHAR(10)"),
        ("line_code", "VARCHAR(10)"),
        ("status", "VARCHAR(10)"),
        ("start_time", "VARCHAR(19)"),
        ("end_time", "VARCHAR(19)"),
    ],
    "lot_consumption": [
        ("id", "INTEGER NOT NULL PRIMARY KEY"),
        ("wo_no", "VARCHAR(40)"),
        ("input_lot_no", "VARCHAR(40)"),
        ("output_lot_no", "VARCHAR(40)"),
        ("qty", "NUMERIC(18,3)"),
        ("uom", "VARCHAR(10)"),
        ("consumed_at", "VARCHAR(19)"),
    ],
    "equipment_status_log": [
        ("id", "INTEGER NOT NULL PRIMARY KEY"),
        ("equip_code", "VARCHAR(40)"),
        ("status", "VARCHAR(10)"),
        ("start_time", "VARCHAR(19)"),
        ("end_time", "VARCHAR(19)"),
        ("reason", "VARCHAR(200)"),
    ],
    "process_parameters": [
        ("id", "INTEGER NOT NULL PRIMARY KEY"),
        ("wo_no", "VARCHAR(40)"),
        ("equip_code", "VARCHAR(40)"),
        ("param_name", "VARCHAR(40)"),
        ("recorded_at", "VARCHAR(19)"),
        ("value", "NUMERIC(18,4)"),
        ("uom", "VARCHAR(10)"),
        ("lower_limit", "NUMERIC(18,4)"),
        ("upper_limit", "NUMERIC(18,4)"),
    ],
}
SOURCES = {
    "mes_equipment": ("equipment", "equipment"),
    "mes_work_orders": ("work_orders", "work_order"),
    "mes_genealogy": ("lot_consumption", "lot_genealogy"),
    "mes_equipment_status": ("equipment_status_log", "equipment_status"),
    "mes_process_parameters": ("process_parameters", "process_parameter"),
}
PARAMETERS = [
    ("TEMP", "℃", 180.0, 220.0),
    ("PRESS", "MPa", 8.0, 12.0),
    ("SPEED", "rpm", 1100.0, 1300.0),
    ("CYCLE", "s", 28.0, 34.0),
]


def mes_ddl() -> list[str]:
    """CREATE TABLE statements valid on SQLite and PostgreSQL."""
    out = []
    for table, columns in MES_TABLES.items():
        body = ",\n  ".join(f"{name} {kind}" for name, kind in columns)
        out.append(f"CREATE TABLE {table} (\n  {body}\n)")
    return out


def _ts(value: datetime | None) -> str | None:
    return None if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def write_mes(out: Path, world: World, rng: random.Random, man: Manifest, parameters: int) -> None:
    path = out / MES_FILE
    path.unlink(missing_ok=True)
    for source, (table, entity) in SOURCES.items():
        man.declare(source, entity, "sql", MES_FILE, table=table)
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA synchronous = OFF")
        for statement in mes_ddl():
            db.execute(statement)
        for source, rows in (
            ("mes_equipment", _equipment(world, rng)),
            ("mes_work_orders", _work_orders(world, rng)),
            ("mes_genealogy", _consumption(world, rng)),
            ("mes_equipment_status", _status_log(world, rng)),
        ):
            _insert(db, SOURCES[source][0], ([i, *v] for i, v in enumerate(rows.values, start=1)))
            man.record(source, None, rows, first_row=1)
        n = _insert(db, "process_parameters", _parameters(world, rng, man, parameters))
        man.count("mes_process_parameters", None, n)
        db.commit()
    finally:
        db.close()
    _stamp_header(path)


def _stamp_header(path: Path) -> None:
    """Write a constant "SQLite version that last wrote the file" into the header.

    Bytes 96-99 hold the writing library's version number, informational only; fixing
    it keeps the committed mes.db byte-identical when Python links another SQLite.
    """
    with path.open("r+b") as fh:
        fh.seek(96)
        fh.write((3_040_000).to_bytes(4, "big"))


def _insert(db: sqlite3.Connection, table: str, rows: Iterator[list[Any]]) -> int:
    """executemany in chunks, so a million readings never sit in memory at once."""
    columns = [c for c, _ in MES_TABLES[table]]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    total = 0
    while chunk := [row for _, row in zip(range(CHUNK), rows, strict=False)]:
        db.executemany(sql, chunk)
        total += len(chunk)
    return total


def _equipment(world: World, rng: random.Random) -> Rows:
    rows = Rows([c for c, _ in MES_TABLES["equipment"][1:]])
    for e in world.equipment:
        rows.add([e.code, e.name, e.line, e.work_center, e.etype])

    def dup(k: int) -> list:
        code = f"EQ-L9-{k:02d}"
        d = Defect("duplicate_key", "duplicate_key", "equip_code", code, f"equipment:{code}")
        return [
            ([code, "旧设备A", "L9", "报废区", "其他"], d),
            ([code, "旧设备B", "L9", "报废区", "其他"], d),
        ]

    def missing(k: int) -> list:
        return [
            (
                [f"EQ-L9-{k:02d}", None, "L9", "报废区", "其他"],
                Defect("missing_value", "missing_value", "equip_name", None),
            )
        ]

    plant_all(rng, rows, [(0.05, dup), (0.05, missing)], len(rows))
    return rows


def _work_orders(world: World, rng: random.Random) -> Rows:
    rows = Rows([c for c, _ in MES_TABLES["work_orders"][1:]])
    for wo in world.work_orders:
        actual = None if wo.actual is None else float(wo.actual)
        status = reverse(WO_STATUS, wo.status)
        uom = wo.product.uom.upper()
        times = [_ts(wo.start), _ts(wo.end)]
        rows.add([wo.no, wo.product.code, float(wo.planned), actual, uom, wo.line, status, *times])
    template = [
        world.work_orders[0].product.code,
        100.0,
        None,
        "PCS",
        "L1",
        "REL",
        "2024-12-20 08:00:00",
        None,
    ]
    t = Template(rows.columns, lambda k: [f"WO2024{90000 + k}", *template])
    plans = [
        (0.01, t.dup("work_order", "wo_no", planned_qty=200.0)),
        (0.01, t.one("unknown_reference", "orphan_material", "product_code", "0399999")),
        (0.01, t.one("invalid_date", "impossible_date", "start_time", "2024-02-30 08:00:00")),
        (0.01, t.one("negative_quantity", "negative_quantity", "planned_qty", -100.0)),
    ]
    plant_all(rng, rows, plans, len(rows))
    return rows


def _consumption(world: World, rng: random.Random) -> Rows:
    rows = Rows([c for c, _ in MES_TABLES["lot_consumption"][1:]])
    for link in world.links:
        uom = link.parent.material.uom.upper()
        rows.add(
            [link.wo.no, link.parent.lot_no, link.child.lot_no, float(link.qty), uom, _ts(link.wo.start)]
        )
    first = world.links[0]
    # Every defective row keeps a unique (input, output, work order) key, so it is one
    # reject for its own reason and never also a duplicate of a clean row.
    linked = {link.parent.lot_no for link in world.links if link.child == first.child}
    spare = [lot.lot_no for lot in world.lots if lot.supplier and lot.lot_no not in linked]

    def row(**change) -> list:
        values = [first.wo.no, first.parent.lot_no, first.child.lot_no, 1.0, "KG", _ts(first.wo.start)]
        base = dict(zip(rows.columns, values, strict=True))
        base.update(change)
        return [base[c] for c in rows.columns]

    def orphan_lot(k: int) -> list:
        lot_no = f"R2499-{99000 + k}"
        return [(row(input_lot_no=lot_no), Defect("orphan_lot", "unknown_reference", "input_lot_no", lot_no))]

    def orphan_wo(k: int) -> list:
        wo_no = f"WO2099{k:05d}"
        return [(row(wo_no=wo_no), Defect("orphan_work_order", "unknown_reference", "wo_no", wo_no))]

    def negative(k: int) -> list:
        d = Defect("negative_quantity", "negative_quantity", "qty", -3.0)
        return [(row(input_lot_no=spare[k % len(spare)], qty=-3.0), d)]

    plant_all(rng, rows, [(0.005, orphan_lot), (0.005, orphan_wo), (0.005, negative)], len(rows))
    return rows


def _status_log(world: World, rng: random.Random) -> Rows:
    rows = Rows([c for c, _ in MES_TABLES["equipment_status_log"][1:]])
    reasons = {
        "DOWN": ["模具故障", "缺料", "停电"],
        "PM": ["计划保养", "点检"],
        "RUN": [None],
        "IDLE": [None, "待排产"],
    }
    for e in world.equipment:
        at = datetime(2024, 1, 2, 8, 0)
        for _ in range(20):
            status = rng.choices(list(EQUIPMENT_STATE), weights=[60, 20, 10, 10])[0]
            end = at + timedelta(minutes=rng.randint(30, 6000))
            rows.add([e.code, status, _ts(at), _ts(end), rng.choice(reasons[status])])
            at = end
    equip = world.equipment[0].code

    def one(reason: str, kind: str, column: str, value) -> Any:
        def planter(k: int) -> list:
            base = dict(
                zip(rows.columns, [equip, "IDLE", f"2025-01-0{1 + k % 9} 00:00:00", None, None], strict=True)
            )
            base[column] = value
            return [([base[c] for c in rows.columns], Defect(kind, reason, column, value))]

        return planter

    plans = [
        (0.005, one("unknown_reference", "orphan_equipment", "equip_code", "EQ-L8-99")),
        (0.005, one("unknown_value", "unknown_status", "status", "ERR9")),
    ]
    plant_all(rng, rows, plans, len(rows))
    return rows


def _parameters(world: World, rng: random.Random, man: Manifest, total: int) -> Iterator[list[Any]]:
    """Readings streamed work order by work order; a few replaced by orphans of unknown work orders."""
    done = [wo for wo in world.work_orders if wo.end is not None]
    per_wo = -(-total // len(done))
    orphans = set(rng.sample(range(total), k=max(2, total // 500)))
    row_id = 0
    for wo in done:
        step = max(1, int((wo.end - wo.start).total_seconds()) * len(PARAMETERS) // per_wo)
        for k in range(min(per_wo, total - row_id)):
            row_id += 1
            name, uom, low, high = PARAMETERS[k % len(PARAMETERS)]
            at = wo.start + timedelta(seconds=step * (k // len(PARAMETERS)))
            equip = wo.equipment[(k // len(PARAMETERS)) % len(wo.equipment)].code
            value = round(rng.gauss((low + high) / 2, (high - low) / 5), 3)
            wo_no = wo.no
            if row_id - 1 in orphans:
                wo_no = f"WO2099{row_id:07d}"
                d = Defect("orphan_work_order", "unknown_reference", "wo_no", wo_no)
                man.defect("mes_process_parameters", None, row_id, d)
            yield [row_id, wo_no, equip, name, _ts(at), value, uom, low, high]


def copy_mes(sqlite_path: Path, engine: Engine) -> dict[str, int]:
    """Create the MES schema in another database (e.g. PostgreSQL) and copy every row; returns counts."""
    counts = {}
    source = sqlite3.connect(sqlite_path)
    try:
        with engine.begin() as conn:
            for statement in mes_ddl():
                conn.execute(text(statement))
            for table, columns in MES_TABLES.items():
                names = [c for c, _ in columns]
                insert = text(
                    f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"
                )
                cursor = source.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY {names[0]}")
                counts[table] = 0
                while batch := cursor.fetchmany(CHUNK):
                    conn.execute(insert, [dict(zip(names, row, strict=True)) for row in batch])
                    counts[table] += len(batch)
    finally:
        source.close()
    return counts
