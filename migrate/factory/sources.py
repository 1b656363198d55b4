"""The old ERP's exports, the QC lab's CSV and the warehouse's CSV, rendered from the world.

Defective rows are extra rows with fresh keys (nothing refers to them), planted at
random positions; each carries exactly one defect and is recorded in the manifest.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from migrate.factory.files import append_rows, save_workbook, write_csv, write_xls
from migrate.factory.manifest import Defect, Manifest, Rows
from migrate.factory.render import (
    LOT_STATUS,
    QUALIFICATION,
    UNKNOWN_UNITS,
    Render,
    reverse,
)
from migrate.factory.world import MATERIAL_TYPES, World

MATERIALS_FILE = "legacy/物料主数据.xlsx"
SUPPLIERS_FILE = "legacy/供应商名录.xls"
LOTS_FILE = "legacy/批次台账.xlsx"
INSPECTIONS_FILE = "legacy/质检记录.csv"
MOVEMENTS_FILE = "legacy/库存流水.csv"
SALES_FILE = "legacy/客户与发货.xlsx"
BAD_DATES = ("2024-02-30", "2024-13-05", "2024/2/31", "2024年13月1日")


def how_many(n: int, rate: float) -> int:
    """Defects of one kind: a rate of the clean rows, at least one."""
    return max(1, round(n * rate))


def plant_all(
    rng: random.Random,
    rows: Rows,
    plans: list[tuple[float, Callable[[int], list[tuple[list, Defect]]]]],
    n: int,
) -> None:
    """Run each planter `how_many` times; a planter returns the row(s) of one defect."""
    k = 0
    for rate, planter in plans:
        for _ in range(how_many(n, rate)):
            k += 1
            for row, defect in planter(k):
                rows.plant(rng, row, defect)


class Template:
    """Defective rows made from one plausible template row; `k` (unique per planted defect)
    keeps their keys fresh, so no defective row collides with another or a clean one."""

    def __init__(self, columns: list[str], make: Callable[[int], list]) -> None:
        self.columns = columns
        self.make = make

    def row(self, k: int, **change) -> list:
        base = dict(zip(self.columns, self.make(k), strict=True))
        base.update(change)
        return [base[c] for c in self.columns]

    def one(self, reason: str, kind: str, column: str, value) -> Callable[[int], list]:
        """A planter of rows with one wrong value."""
        return lambda k: [(self.row(k, **{column: value}), Defect(kind, reason, column, value))]

    def dup(self, entity: str, column: str, **second) -> Callable[[int], list]:
        """A planter of conflicting pairs: same key in `column`, the second row changed by `second`."""

        def planter(k: int) -> list:
            key = self.row(k)[self.columns.index(column)]
            d = Defect("duplicate_key", "duplicate_key", column, key, f"{entity}:{key}")
            return [(self.row(k), d), (self.row(k, **second), d)]

        return planter


def materials(out: Path, world: World, rng: random.Random, man: Manifest) -> None:
    source = "materials"
    man.declare(source, "material", "xlsx", MATERIALS_FILE)
    r = Render(rng, man, source)
    cols = ["物料编码", "物料名称", "规格型号", "单位", "物料类型", "保质期(天)", "备注"]
    rows = Rows(cols)
    for m in world.materials:
        life = m.shelf_life
        rows.add([r.code(m.code), r.name(m.name), m.spec, r.unit(m.uom), MATERIAL_TYPES[m.mtype], life, None])
    fresh = len(world.materials) + 1

    def row(code: str, name: str | None = "备用物料", unit: str = "kg") -> list:
        return [code, name, "—", unit, "原材料", 365, "停用待清理"]

    def dup(k: int) -> list:
        code = f"01{fresh + k:05d}"
        group = f"material:{code}"
        d = Defect("duplicate_key", "duplicate_key", "物料编码", code, group)
        return [(row(code, "重复物料甲"), d), (row(code, "重复物料乙"), d)]

    def unit(k: int) -> list:
        bad = UNKNOWN_UNITS[k % len(UNKNOWN_UNITS)]
        return [(row(f"01{fresh + k:05d}", unit=bad), Defect("unknown_unit", "unknown_value", "单位", bad))]

    def missing(k: int) -> list:
        return [
            (row(f"01{fresh + k:05d}", name=None), Defect("missing_value", "missing_value", "物料名称", None))
        ]

    plant_all(rng, rows, [(0.01, dup), (0.015, unit), (0.01, missing)], len(rows))
    wb = Workbook()
    ws = wb.active
    ws.title = "物料"
    _title_and_merged_header(ws, cols)
    append_rows(ws, rows)
    save_workbook(wb, out / MATERIALS_FILE)
    man.record(source, "物料", rows, first_row=4)


def _title_and_merged_header(ws, cols: list[str]) -> None:
    """Row 1: a title across the table. Rows 2-3: a two-row header, groups merged over leaves."""
    ws.append(["精工制造（苏州）有限公司 物料主数据 导出日期：2025-01-01"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(cols))
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(cols[:3] + ["计量与分类", None, "质量管理", None])
    ws.append([None, None, None] + cols[3:])
    for col in (1, 2, 3):
        ws.merge_cells(start_row=2, start_column=col, end_row=3, end_column=col)
    ws.merge_cells("D2:E2")
    ws.merge_cells("F2:G2")
    for cell in ws[2]:
        cell.alignment = Alignment(horizontal="center", vertical="center")


def suppliers(out: Path, world: World, rng: random.Random, man: Manifest) -> None:
    source = "suppliers"
    man.declare(source, "supplier", "xls", SUPPLIERS_FILE)
    r = Render(rng, man, source)
    rows = Rows(["供应商编码", "供应商名称", "国家", "资质状态", "联系人", "电话", "登记日期"])
    for s in world.suppliers:
        registered = date(2015, 1, 1) + timedelta(days=rng.randint(0, 3000))
        phone = f"0512-{rng.randint(60000000, 69999999)}"
        status = reverse(QUALIFICATION, s.status)
        rows.add(
            [
                r.code(s.code),
                r.name(s.name),
                s.country,
                status,
                rng.choice("王李张刘陈杨") + "经理",
                phone,
                registered,
            ]
        )
    template = ["甲方贸易有限公司", "中国", "合格", "赵经理", "021-55550000", date(2020, 1, 1)]
    t = Template(rows.columns, lambda k: [f"S{9000 + k:04d}", *template])
    plans = [
        (0.03, t.dup("supplier", "供应商编码", 供应商名称="乙方贸易有限公司")),
        (0.03, t.one("unknown_value", "unknown_status", "资质状态", "待审核")),
        (0.03, t.one("missing_value", "missing_value", "供应商名称", None)),
    ]
    plant_all(rng, rows, plans, len(rows))
    write_xls(out / SUPPLIERS_FILE, "供应商", rows)
    man.record(source, "供应商", rows, first_row=2)


LOT_COLUMNS = [
    "批号",
    "物料编码",
    "物料名称",
    "供应商编码",
    "供应商批号",
    "数量",
    "单位",
    "生产日期",
    "入库日期",
    "有效期至",
    "状态",
    "仓库",
    "备注",
]


def lots(out: Path, world: World, rng: random.Random, man: Manifest) -> None:
    """One sheet per month of receipt; a blank line and a 合计 row close some sheets."""
    source = "lots"
    man.declare(source, "material_lot", "xlsx", LOTS_FILE)
    r = Render(rng, man, source)
    months = {m: Rows(list(LOT_COLUMNS)) for m in range(1, 13)}
    for lot in world.lots:
        months[lot.received.month].add(_lot_row(r, lot))
    _plant_lot_defects(rng, months, len(world.lots), world.materials[0])
    wb = Workbook()
    wb.remove(wb.active)
    for month, rows in months.items():
        name = f"2024-{month:02d}"
        ws = wb.create_sheet(name)
        ws.append(LOT_COLUMNS)
        append_rows(ws, rows)
        if month % 2:
            ws.append([])  # a spacer line above the total, as the clerk left it
        total = sum(v[5] for v in rows.values if isinstance(v[5], float | int))
        ws.append(["合计", None, None, None, None, round(total, 1)] + [None] * 7)
        man.record(source, name, rows, first_row=2)
    save_workbook(wb, out / LOTS_FILE)


def _lot_row(r: Render, lot) -> list:
    unit = r.unit(lot.material.uom)
    supplier = lot.supplier.code if lot.supplier else None
    return [
        r.code(lot.lot_no),
        r.code(lot.material.code),
        lot.material.name,
        supplier,
        lot.supplier_lot,
        r.quantity(lot.qty, unit),
        unit,
        r.day(lot.manufactured),
        r.day(lot.received),
        r.day(lot.expires),
        reverse(LOT_STATUS, lot.status),
        lot.warehouse,
        None,
    ]


def _plant_lot_defects(rng: random.Random, months: dict[int, Rows], n: int, material) -> None:
    seq = iter(range(90001, 99999))

    def row(month: int, **change) -> list:
        made = date(2024, month, 3)
        base = {
            "批号": f"R24{month:02d}-{next(seq)}",
            "物料编码": material.code,
            "物料名称": "补录批次",
            "供应商编码": "S0001",
            "供应商批号": "X00000-1",
            "数量": 100.0,
            "单位": material.uom,
            "生产日期": made.isoformat(),
            "入库日期": (made + timedelta(days=5)).isoformat(),
            "有效期至": (made + timedelta(days=365)).isoformat(),
            "状态": "合格",
            "仓库": "原料库",
            "备注": "手工补录",
        }
        base.update(change)
        return [base[c] for c in LOT_COLUMNS]

    def put(reason: str, kind: str, column: str, value, **change) -> None:
        month = rng.randint(1, 12)
        months[month].plant(rng, row(month, **{column: value}, **change), Defect(kind, reason, column, value))

    for _ in range(how_many(n, 0.005)):
        month = rng.randint(1, 12)
        lot_no = f"R24{month:02d}-{next(seq)}"
        d = Defect("duplicate_key", "duplicate_key", "批号", lot_no, f"material_lot:{lot_no}")
        months[month].plant(rng, row(month, 批号=lot_no, 数量=100.0), d)
        other = rng.randint(1, 12)
        months[other].plant(rng, row(other, 批号=lot_no, 数量=250.0), d)
    for k in range(how_many(n, 0.008)):
        put("unknown_reference", "orphan_material", "物料编码", f"01{99000 + k:05d}")
    for k in range(how_many(n, 0.005)):
        put("unknown_reference", "orphan_supplier", "供应商编码", f"S{8800 + k:04d}")
    for k in range(how_many(n, 0.006)):
        put("invalid_date", "impossible_date", "生产日期", BAD_DATES[k % len(BAD_DATES)])
    for _ in range(how_many(n, 0.006)):
        put("negative_quantity", "negative_quantity", "数量", -float(rng.randint(1, 500)))
    for k in range(how_many(n, 0.005)):
        put("unknown_value", "unknown_unit", "单位", UNKNOWN_UNITS[k % len(UNKNOWN_UNITS)])
    for _ in range(how_many(n, 0.005)):
        put("missing_value", "missing_value", "物料编码", None)
    for _ in range(how_many(n, 0.005)):
        put(
            "expiry_before_manufacture",
            "expiry_before_manufacture",
            "有效期至",
            "2024-01-01",
            生产日期="2024-06-01",
            入库日期="2024-06-05",
        )


def sales(out: Path, world: World, rng: random.Random, man: Manifest) -> None:
    """The sales workbook: 客户 (customers) and 发货 (shipment lines)."""
    man.declare("customers", "customer", "xlsx", SALES_FILE)
    man.declare("shipments", "shipment", "xlsx", SALES_FILE)
    customers = _customers(world, rng, man)
    shipments = _shipments(world, rng, man)
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in (("客户", customers), ("发货", shipments)):
        ws = wb.create_sheet(name)
        ws.append(rows.columns)
        append_rows(ws, rows)
    save_workbook(wb, out / SALES_FILE)
    man.record("customers", "客户", customers, first_row=2)
    man.record("shipments", "发货", shipments, first_row=2)


def _customers(world: World, rng: random.Random, man: Manifest) -> Rows:
    r = Render(rng, man, "customers")
    rows = Rows(["客户编码", "客户名称", "国家"])
    for c in world.customers:
        rows.add([r.code(c.code), r.name(c.name), c.country])

    def dup(k: int) -> list:
        code = f"C{9000 + k:04d}"
        d = Defect("duplicate_key", "duplicate_key", "客户编码", code, f"customer:{code}")
        return [([code, "甲客户有限公司", "中国"], d), ([code, "乙客户有限公司", "中国"], d)]

    def missing(k: int) -> list:
        return [
            ([f"C{9000 + k:04d}", None, "中国"], Defect("missing_value", "missing_value", "客户名称", None))
        ]

    plant_all(rng, rows, [(0.03, dup), (0.03, missing)], len(rows))
    return rows


def _shipments(world: World, rng: random.Random, man: Manifest) -> Rows:
    r = Render(rng, man, "shipments")
    cols = ["发货单号", "行号", "客户编码", "批号", "数量", "单位", "发货日期"]
    rows = Rows(cols)
    for s in world.shipments:
        unit = r.unit(s.lot.material.uom)
        rows.add(
            [
                s.no,
                s.line,
                r.code(s.customer.code),
                s.lot.lot_no,
                r.quantity(s.qty, unit),
                unit,
                r.day(s.shipped),
            ]
        )
    lot_no = world.shipments[0].lot.lot_no
    customer = world.customers[0].code
    t = Template(cols, lambda k: [f"SO2024{90000 + k}", 1, customer, lot_no, 10.0, "pcs", "2024-11-20"])
    plans = [
        (0.01, t.dup("shipment", "发货单号", 数量=20.0)),
        (0.01, t.one("unknown_reference", "orphan_customer", "客户编码", "C8888")),
        (0.01, t.one("unknown_reference", "orphan_lot", "批号", "P2499-99999")),
        (0.01, t.one("negative_quantity", "negative_quantity", "数量", -10.0)),
        (0.01, t.one("invalid_date", "impossible_date", "发货日期", "2024-11-31")),
    ]
    plant_all(rng, rows, plans, len(rows))
    return rows


INSPECTION_COLUMNS = [
    "检验单号",
    "批号",
    "检验类型",
    "检验项目",
    "测量值",
    "单位",
    "结果",
    "检验员",
    "检验时间",
]
_CHECKS = [
    ("外观", None, None),
    ("尺寸", "mm", (9.8, 10.2)),
    ("硬度", "HRC", (38, 45)),
    ("含水率", "%", (0.1, 0.5)),
]


def inspections(out: Path, world: World, rng: random.Random, man: Manifest) -> None:
    """QC lab export, GB18030: incoming checks of purchased lots, final checks of produced ones."""
    source = "inspections"
    man.declare(source, "quality_inspection", "csv", INSPECTIONS_FILE)
    r = Render(rng, man, source)
    rows = Rows(list(INSPECTION_COLUMNS))
    for i, (at, lot_no, kind, name, value, unit, result) in enumerate(_checks(world, rng), start=1):
        inspector = rng.choice(["王芳", "李强", "张伟", "刘洋", "陈静"])
        rows.add([f"QC{2024}{i:06d}", lot_no, kind, name, value, unit, result, inspector, r.stamp(at)])
    lot_no = world.lots[0].lot_no
    template = [lot_no, "来料检验", "外观", None, None, "合格", "王芳", "2024-06-01 09:00:00"]
    t = Template(INSPECTION_COLUMNS, lambda k: [f"QC2024{900000 + k}", *template])
    plans = [
        (0.005, t.dup("quality_inspection", "检验单号", 结果="不合格")),
        (0.008, t.one("unknown_reference", "orphan_lot", "批号", "R2499-99999")),
        (0.005, t.one("invalid_date", "impossible_date", "检验时间", "2024-02-30 10:00:00")),
        (0.005, t.one("unknown_value", "unknown_result", "结果", "待定")),
        (0.005, t.one("missing_value", "missing_value", "结果", None)),
    ]
    plant_all(rng, rows, plans, len(rows))
    write_csv(out / INSPECTIONS_FILE, rows, "gb18030")
    man.record(source, None, rows, first_row=2)


def _checks(world: World, rng: random.Random) -> list[tuple]:
    """One or two checks per lot, in the order the lab did them."""
    records = []
    for lot in world.lots:
        kind = "来料检验" if lot.supplier else "成品检验"
        for name, unit, span in rng.sample(_CHECKS, k=rng.randint(1, 2)):
            at = datetime.combine(lot.received, datetime.min.time()) + timedelta(
                minutes=rng.randint(480, 1080)
            )
            value = None if span is None else round(rng.uniform(*span), 3)
            if lot.status == "rejected":
                result = "不合格"
            else:
                result = rng.choices(["合格", "让步接收"], weights=[95, 5])[0]
            records.append((at, lot.lot_no, kind, name, value, unit, result))
    return sorted(records, key=lambda rec: (rec[0], rec[1], rec[3]))


MOVEMENT_COLUMNS = ["单据号", "日期", "业务类型", "批号", "物料编码", "数量", "单位", "仓库", "关联单号"]


def movements(out: Path, world: World, rng: random.Random, man: Manifest) -> None:
    """Warehouse ledger, UTF-8 with BOM: receipts, issues to work orders, production receipts, shipments."""
    source = "movements"
    man.declare(source, "inventory_movement", "csv", MOVEMENTS_FILE)
    r = Render(rng, man, source)
    rows = Rows(list(MOVEMENT_COLUMNS))
    for i, (at, kind, lot, amount, warehouse, ref) in enumerate(_events(world, rng), start=1):
        unit = r.unit(lot.material.uom)
        code = lot.material.code
        rows.add([f"MV{i:07d}", r.stamp(at), kind, lot.lot_no, code, str(amount), unit, warehouse, ref])
    lot = world.lots[0]
    template = [
        "2024-06-01 10:00:00",
        "调拨",
        lot.lot_no,
        lot.material.code,
        "5",
        lot.material.uom,
        "原料库",
        "补录",
    ]
    t = Template(MOVEMENT_COLUMNS, lambda k: [f"MV9{k:06d}", *template])
    plans = [
        (0.004, t.dup("inventory_movement", "单据号", 数量="7")),
        (0.006, t.one("unknown_reference", "orphan_lot", "批号", "R2499-99998")),
        (0.004, t.one("invalid_date", "impossible_date", "日期", "2024-13-05 08:00:00")),
        (0.004, t.one("unknown_value", "unknown_movement_type", "业务类型", "借用")),
        (0.004, t.one("missing_value", "missing_value", "批号", None)),
    ]
    plant_all(rng, rows, plans, len(rows))
    write_csv(out / MOVEMENTS_FILE, rows, "utf-8-sig")
    man.record(source, None, rows, first_row=2)


def _events(world: World, rng: random.Random) -> list[tuple]:
    """Every stock movement the world implies, in time order."""
    events = []
    for lot in world.lots:
        at = datetime.combine(lot.received, datetime.min.time()) + timedelta(hours=rng.randint(8, 17))
        kind = "采购入库" if lot.supplier else "生产入库"
        events.append((at, kind, lot, lot.qty, lot.warehouse, lot.supplier_lot or ""))
    for link in world.links:
        events.append((link.wo.start, "生产领料", link.parent, -link.qty, link.parent.warehouse, link.wo.no))
    for s in world.shipments:
        at = datetime.combine(s.shipped, datetime.min.time()) + timedelta(hours=14)
        events.append((at, "销售出库", s.lot, -s.qty, s.lot.warehouse, s.no))
    for lot in rng.sample(world.lots, k=len(world.lots) // 30):
        at = datetime(2024, 12, 31, 16, 0)
        events.append((at, "盘点调整", lot, Decimal(rng.choice([-2, -1, 1])), lot.warehouse, "年终盘点"))
    return sorted(events, key=lambda e: (e[0], e[2].lot_no, e[1]))
