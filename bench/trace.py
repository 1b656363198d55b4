"""Benchmark `reconcile` of lot_genealogy with its traceability checks at 1,000,000 links.

    python bench/trace.py                    # 1,000,000 genealogy links over 200,000 lots, SQLite
    python bench/trace.py --links 100000

A work store is filled with mapped lots, work orders, receipts and genealogy links (every link's
lots and work order exist, a few lots have no origin) and loaded into an SQLite target; then
`reconcile` of the lot_genealogy entity runs as a phase gate runs it: the row comparison of
every link, then the checks reading lot_genealogy (`lot_origin`, `genealogy_links`), each on
the work store and on the target. Printed: the time of each part and of the whole, beside the
same anti-joins done by polars on frames already in memory (a floor: no database reads).
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from migrate import db  # noqa: E402
from migrate.load import load  # noqa: E402
from migrate.model import ENTITIES  # noqa: E402
from migrate.project import Project  # noqa: E402
from migrate.reconcile import reconcile_with  # noqa: E402
from migrate.reconcile.spec import load_spec  # noqa: E402
from migrate.reconcile.trace import CHECKS, trace  # noqa: E402
from migrate.store import LINEAGE, WorkStore, mapped_table  # noqa: E402
from tests.load.mapped import make_store  # noqa: E402

BATCH = 100_000


def _append(con: sqlite3.Connection, entity: str, rows) -> None:
    """Append mapped rows (dicts in batches) after the table's existing `_row_id`s."""
    columns = ENTITIES[entity].mapped_columns
    start = con.execute(f'SELECT COALESCE(MAX(_row_id), 0) FROM "{mapped_table(entity)}"').fetchone()[0]
    marks = ", ".join("?" for _ in range(len(LINEAGE) + len(columns) + 1))
    batch: list[tuple] = []
    for i, row in enumerate(rows, start + 1):
        batch.append((i, "bench", "bench.csv", None, i, *(row.get(c) for c in columns)))
        if len(batch) == BATCH:
            con.executemany(f'INSERT INTO "{mapped_table(entity)}" VALUES ({marks})', batch)
            batch = []
    con.executemany(f'INSERT INTO "{mapped_table(entity)}" VALUES ({marks})', batch)


def build(work: Path, links: int) -> tuple[str, str]:
    lots, orders = max(links // 5, 1000), max(links // 50, 100)
    store = make_store(work / "store.db", 0)
    con = sqlite3.connect(work / "store.db")
    with con:
        _append(
            con,
            "work_order",
            (
                dict(
                    work_order_no=f"WB{i:07}",
                    material_code="M0001",
                    planned_qty="1.000000",
                    uom="kg",
                    status="completed",
                )
                for i in range(orders)
            ),
        )
        _append(
            con,
            "material_lot",
            (
                dict(
                    lot_no=f"LB{i:07}",
                    material_code="M0001",
                    quantity="1.000000",
                    uom="kg",
                    status="released",
                )
                for i in range(lots)
            ),
        )
        # every lot but every 1000th is received; produced lots also come from their links
        _append(
            con,
            "inventory_movement",
            (
                dict(
                    movement_no=f"MB{i:07}",
                    lot_no=f"LB{i:07}",
                    movement_type="receipt",
                    quantity="1.000000",
                    uom="kg",
                    moved_at="2024-03-01T00:00:00+00:00",
                )
                for i in range(lots)
                if i % 1000
            ),
        )
        _append(
            con,
            "lot_genealogy",
            (
                dict(
                    parent_lot_no=f"LB{(i * 7919) % lots:07}",
                    child_lot_no=f"LB{(i * 7919 + 1 + i // lots) % lots:07}",
                    work_order_no=f"WB{i % orders:07}",
                    quantity="0.500000",
                    uom="kg",
                )
                for i in range(links)
            ),
        )
    con.close()
    target = f"sqlite:///{work / 'target.db'}"
    engine = db.make_engine(target)
    db.upgrade(engine)
    engine.dispose()
    load(target, store, chunk_size=100_000)
    return store, target


def _cpu() -> float:
    """CPU seconds of this process and its finished children (reconcile's reader processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def polars_floor(store: str) -> float:
    """The checks' anti-joins by polars on frames already read (reading excluded)."""
    import polars as pl

    path = store.removeprefix("sqlite:///")
    con = sqlite3.connect(path)
    frame = lambda sql: pl.DataFrame(con.execute(sql).fetchall(), orient="row")  # noqa: E731
    g = frame("SELECT parent_lot_no, child_lot_no, work_order_no FROM map_lot_genealogy").rename(
        {"column_0": "parent", "column_1": "child", "column_2": "wo"}
    )
    m = frame("SELECT lot_no FROM map_material_lot").rename({"column_0": "lot"})
    w = frame("SELECT work_order_no FROM map_work_order").rename({"column_0": "wo"})
    i = frame(
        "SELECT lot_no FROM map_inventory_movement WHERE movement_type IN ('receipt', 'production_receipt')"
    ).rename({"column_0": "lot"})
    con.close()
    started = time.perf_counter()
    breaks = (
        g.join(m, left_on="parent", right_on="lot", how="anti").height
        + g.join(m, left_on="child", right_on="lot", how="anti").height
        + g.join(w, on="wo", how="anti").height
        + m.join(i, on="lot", how="anti").join(g, left_on="lot", right_on="child", how="anti").height
    )
    assert breaks >= 0
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--dir", help="reuse the store and target an earlier run built in this folder")
    args = parser.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-trace-"))
    started = time.perf_counter()
    if args.dir:
        store_url, target_url = f"sqlite:///{work / 'store.db'}", f"sqlite:///{work / 'target.db'}"
    else:
        store_url, target_url = build(work, args.links)
    built = time.perf_counter() - started
    spec = load_spec(Project(ROOT), "lot_genealogy").model_copy(update={"control_totals": ()})
    store, target = WorkStore(store_url), db.make_engine(target_url)
    started, cpu = time.perf_counter(), _cpu()
    report = reconcile_with(store, target, [spec])
    total, total_cpu = time.perf_counter() - started, _cpu() - cpu
    names = {c.name for c in CHECKS if "lot_genealogy" in c.needs}
    checks = {t.name: t for t in report.traceability}
    assert set(checks) == names and all(t.applicable for t in checks.values()), checks
    assert report.entities[0].rows.matched_rows >= args.links and report.ok, report.entities[0].rows
    started, cpu = time.perf_counter(), _cpu()
    trace(store, target, ("lot_genealogy",))
    checks_only, checks_cpu = time.perf_counter() - started, _cpu() - cpu
    store.dispose()
    target.dispose()
    floor = polars_floor(store_url)
    lines = ", ".join(f"{t.name}: {t.state} ({len(t.expected_breaks)} in source)" for t in checks.values())
    print(
        f"reconcile lot_genealogy, {args.links:,} links: {total:.1f} s wall, {total_cpu:.1f} s CPU (rows compared and the checks {lines})"
        f" | the checks alone, again: {checks_only:.1f} s wall, {checks_cpu:.1f} s CPU | polars anti-joins on frames in memory {floor:.2f} s | build + load {built:.0f} s"
        f" | load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
