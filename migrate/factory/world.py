"""The factory as it really is: clean master data, lots, work orders, genealogy, shipments.

The legacy sources (see `sources`) are renderings of this world, messy but faithful, plus
extra defective rows that nothing in the world refers to.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

YEAR = 2024
MATERIAL_TYPES = {"raw": "原材料", "semi": "半成品", "finished": "成品", "packaging": "包装材料"}
_RAW = [
    ("不锈钢板", "304 δ{n}mm", "kg", None),
    ("铝合金棒", "6061-T6 Φ{n}0", "kg", None),
    ("环氧树脂", "E-{n}1 25kg/桶", "kg", 365),
    ("硅胶", "邵氏A{n}0", "kg", 540),
    ("铜线", "T2 Φ0.{n}mm", "m", None),
    ("ABS颗粒", "PA-7{n}7", "kg", 730),
    ("PP颗粒", "K{n}912", "kg", 730),
    ("润滑油", "ISO VG {n}2", "L", 1095),
    ("清洗溶剂", "IPA 99.{n}%", "L", 720),
    ("螺钉", "M{n}×12 不锈钢", "pcs", None),
]
_PACK = [("纸箱", "{n}00×300×200", "pcs"), ("PE袋", "{n}0×50cm", "pcs"), ("标签", "{n}0×30mm", "roll")]
_PRODUCTS = [
    ("semi", "壳体", "pcs", None),
    ("semi", "密封圈", "pcs", 720),
    ("semi", "线束", "pcs", None),
    ("finished", "控制器总成", "pcs", None),
    ("finished", "泵体组件", "pcs", None),
    ("finished", "胶粘剂", "kg", 365),
]
_CITIES = ["苏州", "无锡", "宁波", "东莞", "佛山", "天津", "青岛", "合肥", "重庆", "成都"]
_FIRMS = ["恒达", "华鑫", "永盛", "金泰", "瑞丰", "宏远", "新力", "博世通", "正邦", "立信"]
_TRADES = ["金属材料", "化工", "塑胶", "包装", "电子", "五金"]
COUNTRIES = {"中国": "CN", "德国": "DE", "日本": "JP", "韩国": "KR", "美国": "US"}
LINES = ("L1", "L2", "L3", "L4")
WORK_CENTERS = {"L1": "注塑", "L2": "机加工", "L3": "装配", "L4": "灌装"}
EQUIPMENT_TYPES = {"注塑": "注塑机", "机加工": "数控车床", "装配": "装配工位", "灌装": "灌装机"}


@dataclass(frozen=True)
class Material:
    code: str
    name: str
    spec: str
    uom: str  # canonical code: kg, g, L, m, pcs, roll
    mtype: str  # raw / semi / finished / packaging
    shelf_life: int | None


@dataclass(frozen=True)
class Party:
    """A supplier or a customer."""

    code: str
    name: str
    country: str  # Chinese country name as the legacy files write it
    status: str = "approved"


@dataclass(frozen=True)
class Equipment:
    code: str
    name: str
    line: str
    work_center: str
    etype: str


@dataclass(frozen=True)
class Lot:
    lot_no: str
    material: Material
    supplier: Party | None  # None: produced in-house
    supplier_lot: str | None
    qty: Decimal
    manufactured: date
    received: date
    expires: date | None
    status: str  # quarantine / released / rejected / consumed
    warehouse: str


@dataclass(frozen=True)
class WorkOrder:
    no: str
    product: Material
    planned: Decimal
    actual: Decimal | None
    line: str
    status: str
    start: datetime
    end: datetime | None
    equipment: tuple[Equipment, ...]


@dataclass(frozen=True)
class Link:
    """Genealogy: `parent` consumed by `wo` into `child`."""

    wo: WorkOrder
    parent: Lot
    child: Lot
    qty: Decimal


@dataclass(frozen=True)
class ShipmentLine:
    no: str
    line: int
    customer: Party
    lot: Lot
    qty: Decimal
    shipped: date


@dataclass
class World:
    materials: list[Material]
    suppliers: list[Party]
    customers: list[Party]
    equipment: list[Equipment]
    lots: list[Lot]  # purchased and produced
    work_orders: list[WorkOrder]
    links: list[Link]
    shipments: list[ShipmentLine]


def day_of_year(rng: random.Random, first: int = 0, last: int = 364) -> date:
    return date(YEAR, 1, 1) + timedelta(days=rng.randint(first, last))


def qty(rng: random.Random, low: int, high: int) -> Decimal:
    """A quantity with one decimal place, as weighed on the floor."""
    return Decimal(rng.randint(low * 10, high * 10)) / 10


def build_world(rng: random.Random, sizes: dict[str, int]) -> World:
    materials = _materials(rng, sizes["materials"])
    suppliers = [_party(rng, "S", i, supplier=True) for i in range(1, sizes["suppliers"] + 1)]
    customers = [_party(rng, "C", i, supplier=False) for i in range(1, sizes["customers"] + 1)]
    equipment = _equipment(sizes["equipment"])
    buyable = [m for m in materials if m.mtype in ("raw", "packaging")]
    usable = [s for s in suppliers if s.status != "blocked"]
    purchased = sorted(
        (_purchased_lot(rng, buyable, usable) for _ in range(sizes["purchased_lots"])),
        key=lambda lot: (lot.received, lot.material.code),
    )
    purchased = [_renumber(lot, "R", i) for i, lot in enumerate(purchased, start=1)]
    products = [m for m in materials if m.mtype in ("semi", "finished")]
    work_orders, produced, links = _production(rng, sizes["work_orders"], products, equipment, purchased)
    shipments = _shipments(rng, customers, [lot for lot in produced if lot.material.mtype == "finished"])
    return World(
        materials, suppliers, customers, equipment, purchased + produced, work_orders, links, shipments
    )


def _materials(rng: random.Random, n: int) -> list[Material]:
    out = []
    for i in range(n):
        pick = i % 10
        if pick < 6:
            name, spec, uom, life = _RAW[rng.randrange(len(_RAW))]
            mtype = "raw"
        elif pick < 7:
            name, spec, uom = _PACK[rng.randrange(len(_PACK))]
            mtype, life = "packaging", None
        else:
            mtype, name, uom, life = _PRODUCTS[rng.randrange(len(_PRODUCTS))]
            spec = "型号 {n}A"
        prefix = {"raw": "01", "packaging": "04", "semi": "02", "finished": "03"}[mtype]
        code = f"{prefix}{i + 1:05d}"  # leading zero: the old ERP's codes are text
        variant = rng.randint(1, 9)
        out.append(Material(code, f"{name}{variant}型", spec.format(n=variant), uom, mtype, life))
    return out


def _party(rng: random.Random, prefix: str, i: int, *, supplier: bool) -> Party:
    city, firm = rng.choice(_CITIES), rng.choice(_FIRMS)
    trade = rng.choice(_TRADES) if supplier else rng.choice(["机电", "汽车部件", "医疗器械", "家电"])
    country = "中国" if rng.random() < 0.8 else rng.choice(list(COUNTRIES)[1:])
    status = rng.choices(["approved", "conditional", "blocked"], weights=[85, 10, 5])[0]
    return Party(f"{prefix}{i:04d}", f"{city}{firm}{trade}有限公司", country, status if supplier else "")


def _equipment(n: int) -> list[Equipment]:
    out = []
    for i in range(n):
        line = LINES[i % len(LINES)]
        center = WORK_CENTERS[line]
        number = i // len(LINES) + 1
        etype = EQUIPMENT_TYPES[center]
        out.append(Equipment(f"EQ-{line}-{number:02d}", f"{etype}{number}号", line, center, etype))
    return out


def _purchased_lot(rng: random.Random, materials: list[Material], suppliers: list[Party]) -> Lot:
    material = rng.choice(materials)
    received = day_of_year(rng, 0, 330)
    made = received - timedelta(days=rng.randint(3, 60))
    expires = made + timedelta(days=material.shelf_life) if material.shelf_life else None
    status = rng.choices(["released", "quarantine", "rejected"], weights=[85, 10, 5])[0]
    warehouse = "包材库" if material.mtype == "packaging" else "原料库"
    supplier_lot = f"{rng.choice('ABCDHKMZ')}{rng.randint(10000, 99999)}-{rng.randint(1, 9)}"
    return Lot(
        "",
        material,
        rng.choice(suppliers),
        supplier_lot,
        qty(rng, 50, 2000),
        made,
        received,
        expires,
        status,
        warehouse,
    )


def _renumber(lot: Lot, prefix: str, i: int) -> Lot:
    fields = {**lot.__dict__, "lot_no": f"{prefix}{lot.received:%y%m}-{i:05d}"}
    return Lot(**fields)


def _production(
    rng: random.Random, n: int, products: list[Material], equipment: list[Equipment], purchased: list[Lot]
) -> tuple[list[WorkOrder], list[Lot], list[Link]]:
    """Work orders in start order; each completed one produces a lot from 2-3 inputs."""
    starts = sorted(
        datetime(YEAR, 1, 8, 6) + timedelta(minutes=rng.randint(0, 330 * 24 * 60)) for _ in range(n)
    )
    work_orders, produced, links = [], [], []
    semi_lots: list[Lot] = []
    for i, start in enumerate(starts, start=1):
        product = rng.choice(products)
        line = rng.choice(LINES)
        on_line = tuple(e for e in equipment if e.line == line) or (equipment[0],)
        planned = Decimal(rng.randint(10, 200) * 10)
        done = i <= n - max(1, n // 20)  # the last few are still running
        end = start + timedelta(minutes=rng.randint(240, 960)) if done else None
        actual = (planned * Decimal(rng.randint(92, 100)) / 100).quantize(Decimal("0.1")) if done else None
        status = rng.choice(["completed", "closed"]) if done else "in_progress"
        wo = WorkOrder(f"WO{YEAR}{i:05d}", product, planned, actual, line, status, start, end, on_line)
        work_orders.append(wo)
        if not done:
            continue
        child = _produced_lot(rng, wo, i)
        produced.append(child)
        inputs = [lot for lot in purchased if lot.received <= start.date() and lot.status == "released"]
        parents = rng.sample(inputs, k=min(len(inputs), rng.randint(2, 3)))
        if product.mtype == "finished" and semi_lots:
            parents.append(rng.choice(semi_lots))
        links += [Link(wo, p, child, qty(rng, 1, 50)) for p in parents]
        if product.mtype == "semi":
            semi_lots.append(child)
    return work_orders, produced, links


def _produced_lot(rng: random.Random, wo: WorkOrder, i: int) -> Lot:
    made = wo.end.date()
    life = wo.product.shelf_life
    expires = made + timedelta(days=life) if life else None
    warehouse = "成品库" if wo.product.mtype == "finished" else "半成品库"
    status = rng.choices(["released", "quarantine"], weights=[90, 10])[0]
    return Lot(
        f"P{made:%y%m}-{i:05d}", wo.product, None, None, wo.actual, made, made, expires, status, warehouse
    )


def _shipments(rng: random.Random, customers: list[Party], lots: list[Lot]) -> list[ShipmentLine]:
    out: list[ShipmentLine] = []
    pool = [lot for lot in lots if lot.status == "released" and lot.received.month < 12]
    number = 0
    while pool:
        number += 1
        customer = rng.choice(customers)
        size = rng.randint(1, 3)
        take, pool = pool[:size], pool[size:]
        shipped = max(lot.received for lot in take) + timedelta(days=rng.randint(1, 20))
        for line, lot in enumerate(take, start=1):
            amount = min(lot.qty, Decimal(rng.randint(1, 10) * 10))
            out.append(ShipmentLine(f"SO{YEAR}{number:05d}", line, customer, lot, amount, shipped))
    return out
