"""A foreign ERP's estate: a Western ERP's normalised tables (a bicycle maker's: products by
numeric id, vendors, customers, locations, bills of materials with validity dates, purchase
orders as header + lines, work orders with routing steps holding two measures, a stock
ledger whose reference means a purchase order, a work order or a sales order depending on
the transaction type, sales orders as header + lines), written as one SQLite database and
as the same tables exported to files (CSV; products and vendors as xlsx).

`generate_foreign(out_dir, seed=11, orders=30)` writes `out_dir/erp.db`, `out_dir/export/`
and returns the row count of every table. Same seed, same bytes. The example project under
`examples/foreign-erp/` maps it with no SQL and no Python.
"""

from __future__ import annotations

import csv
import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from openpyxl import Workbook

TABLES: dict[str, tuple[str, ...]] = {
    "Product": ("ProductID", "ProductNumber", "Name", "ProductType", "UnitMeasureCode", "DaysToExpire"),
    "Vendor": ("VendorID", "AccountNumber", "Name", "CreditRating", "ActiveFlag", "CountryCode"),
    "Customer": ("CustomerID", "AccountNumber", "StoreName", "PersonName", "CountryCode"),
    "Location": ("LocationID", "Name", "LineName"),
    "BillOfMaterials": (
        "BillOfMaterialsID",
        "ProductAssemblyID",
        "ComponentID",
        "StartDate",
        "EndDate",
        "PerAssemblyQty",
    ),
    "PurchaseOrderHeader": ("PurchaseOrderID", "VendorID", "OrderDate"),
    "PurchaseOrderDetail": (
        "PurchaseOrderID",
        "PurchaseOrderDetailID",
        "ProductID",
        "OrderQty",
        "ReceivedQty",
        "LotNumber",
    ),
    "WorkOrder": ("WorkOrderID", "ProductID", "OrderQty", "StartDate", "EndDate", "LotNumber"),
    "WorkOrderRouting": (
        "WorkOrderID",
        "OperationSequence",
        "LocationID",
        "ActualStartDate",
        "ActualResourceHrs",
        "ActualCost",
    ),
    "TransactionHistory": (
        "TransactionID",
        "ProductID",
        "ReferenceOrderID",
        "TransactionDate",
        "TransactionType",
        "Quantity",
        "LotNumber",
    ),
    "SalesOrderHeader": ("SalesOrderID", "CustomerID", "ShipDate"),
    "SalesOrderDetail": ("SalesOrderID", "SalesOrderDetailID", "ProductID", "OrderQty", "LotNumber"),
}
XLSX_TABLES = ("Product", "Vendor")
START = datetime(2024, 1, 8, 7, 0)


def generate_foreign(out_dir: Path, *, seed: int = 11, orders: int = 30) -> dict[str, int]:
    """Write the estate (database and file export); the row count of every table."""
    rows = _estate(random.Random(seed), orders)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_db(out_dir / "erp.db", rows)
    _write_files(out_dir / "export", rows)
    return {name: len(table) for name, table in rows.items()}


def _estate(rng: random.Random, orders: int) -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = {name: [] for name in TABLES}
    raw = [
        (700 + i, f"CP-{1000 + i}", f"Component {i}", "R", rng.choice(["EA", "KG"]), rng.choice([None, 365]))
        for i in range(8)
    ]
    made = [(900 + i, f"BK-{2000 + i}", f"Bike {i}", "F", "EA", None) for i in range(4)]
    rows["Product"] = raw + made
    rows["Vendor"] = [
        (
            1490 + i,
            f"VEND{i:04d}",
            f"Vendor {i}",
            rng.randint(1, 5),
            int(i % 5 != 4),
            rng.choice(["US", "DE", "CN"]),
        )
        for i in range(6)
    ]
    rows["Customer"] = [
        (
            11000 + i,
            f"AW{i:08d}",
            f"Store {i}" if i % 2 else None,
            None if i % 2 else f"Person {i}",
            rng.choice(["US", "FR"]),
        )
        for i in range(6)
    ]
    rows["Location"] = [(10 * (i + 1), f"Cell {i + 1}", f"Line {i % 2 + 1}") for i in range(4)]
    _boms(rng, rows, raw, made)
    lots = _purchases(rng, rows, raw, orders)
    finished = _production(rng, rows, made, lots, orders)
    _sales(rng, rows, finished, orders)
    return rows


def _boms(rng: random.Random, rows, raw, made) -> None:
    """Each bike: an old component (valid until the end of 2023) and three current ones."""
    n = 1
    for bike in made:
        parts = rng.sample(raw, 4)
        rows["BillOfMaterials"].append((n, bike[0], parts[0][0], "2020-01-01", "2023-12-31", 1))
        for part in parts[1:]:
            n += 1
            rows["BillOfMaterials"].append((n, bike[0], part[0], "2021-06-01", None, rng.choice([1, 2, 0.5])))
        n += 1


def _purchases(rng: random.Random, rows, raw, orders: int) -> dict[int, list[str]]:
    """Purchase orders and their receipts: one lot per line, a P transaction per receipt."""
    lots: dict[int, list[str]] = {}
    for po in range(1, orders + 1):
        when = START + timedelta(days=po)
        rows["PurchaseOrderHeader"].append(
            (po, rng.choice(rows["Vendor"][:4])[0], when.strftime("%Y-%m-%d %H:%M:%S"))
        )
        for line, item in enumerate(rng.sample(raw, 3), start=1):
            lot = f"PL{po:05d}-{line}"
            qty = rng.choice([50, 100, 250.5])
            rows["PurchaseOrderDetail"].append((po, po * 10 + line, item[0], qty, qty, lot))
            lots.setdefault(item[0], []).append(lot)
            _transaction(rows, item[0], po, when + timedelta(hours=line), "P", qty, lot)
    return lots


def _production(rng: random.Random, rows, made, lots, orders: int) -> list[tuple[int, str]]:
    """Work orders on the current BOM: components issued (W), two routing steps measured."""
    finished = []
    current = [b for b in rows["BillOfMaterials"] if b[4] is None]
    for wo in range(1, orders + 1):
        bike = made[wo % len(made)]
        start = START + timedelta(days=orders + wo)
        lot = f"WL{wo:05d}"
        qty = rng.choice([5, 10, 20])
        end = None if wo == orders else (start + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
        rows["WorkOrder"].append((4000 + wo, bike[0], qty, start.strftime("%Y-%m-%d %H:%M:%S"), end, lot))
        for b in (b for b in current if b[1] == bike[0]):
            _transaction(rows, b[2], 4000 + wo, start, "W", b[5] * qty, rng.choice(lots[b[2]]))
        for step, location in ((10, 10), (20, rng.choice([20, 30, 40]))):
            at = start + timedelta(hours=step // 10)
            hours, cost = rng.choice([1.5, 2, 3.25]), rng.choice([40, 75.5, 120])
            rows["WorkOrderRouting"].append(
                (4000 + wo, step, location, at.strftime("%Y-%m-%d %H:%M:%S"), hours, cost)
            )
        finished.append((bike[0], lot))
    return finished


def _sales(rng: random.Random, rows, finished, orders: int) -> None:
    for so in range(1, orders // 2 + 1):
        ship = START + timedelta(days=3 * orders + so)
        rows["SalesOrderHeader"].append(
            (43000 + so, rng.choice(rows["Customer"])[0], ship.strftime("%Y-%m-%d %H:%M:%S"))
        )
        for line, (product, lot) in enumerate(rng.sample(finished, 2), start=1):
            detail = 110000 + so * 10 + line
            rows["SalesOrderDetail"].append((43000 + so, detail, product, 1, lot))
            _transaction(rows, product, 43000 + so, ship, "S", 1, lot)


def _transaction(rows, product: int, reference: int, when: datetime, kind: str, qty, lot: str) -> None:
    n = 100000 + len(rows["TransactionHistory"]) + 1
    rows["TransactionHistory"].append(
        (n, product, reference, when.strftime("%Y-%m-%d %H:%M:%S"), kind, qty, lot)
    )


def _write_db(path: Path, rows: dict[str, list[tuple]]) -> None:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        for name, columns in TABLES.items():
            quoted = ", ".join(f'"{c}"' for c in columns)  # our own fixed names
            conn.execute(f'CREATE TABLE "{name}" ({quoted})')
            marks = ", ".join("?" for _ in columns)
            conn.executemany(f'INSERT INTO "{name}" VALUES ({marks})', rows[name])
    conn.close()


def _write_files(folder: Path, rows: dict[str, list[tuple]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, columns in TABLES.items():
        if name in XLSX_TABLES:
            book = Workbook()
            sheet = book.active
            sheet.title = name
            sheet.append(list(columns))
            for row in rows[name]:
                sheet.append(list(row))
            book.save(folder / f"{name}.xlsx")
            continue
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(["" if v is None else v for v in row] for row in rows[name])


def main(argv: list[str] | None = None) -> int:
    """`python -m migrate.factory.foreign OUT [--seed S] [--orders N]`."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m migrate.factory.foreign", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out", type=Path, help="folder to write erp.db and export/ into")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--orders", type=int, default=30, help="purchase and work orders (sales: half)")
    args = parser.parse_args(argv)
    counts = generate_foreign(args.out, seed=args.seed, orders=args.orders)
    print(f"wrote {len(counts)} tables, {sum(counts.values())} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
