"""Benchmark: map + validate process-parameter rows from text staging, beside plain pandas.

    .venv/bin/python bench/map.py                 # 1,000,000 rows
    .venv/bin/python bench/map.py --rows 200000   # quicker

Staged rows are text (as extract writes them), with 0.1% bad decimals, 0.1% impossible
timestamps and 0.1% unknown work orders. The mapping parses three decimals and one
timestamp (Asia/Shanghai -> UTC), maps the unit through a strict value map, applies six
rules and two lookups (work order, equipment), then checks the natural key for duplicates.

Printed, each in rows/second:
- `map core`: `map_chunk` on chunks already in memory (transform + validate + rejects).
- `pandas core`: the same parsing, rules and lookup written as plain pandas (floats, no
  canonical text, no reject reasons or messages): the baseline.
- `map end-to-end`: `map_entities` reading SQLite staging, writing mapped rows and rejects,
  duplicate check in SQL, run record.
- `pandas end-to-end`: `read_sql` chunks + the baseline work + `to_sql` of the valid rows.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import yaml

from migrate.mapping.engine import load_plans, map_chunk, map_entities, read_staged
from migrate.project import Project
from migrate.store import WorkStore

ROOT = Path(__file__).resolve().parent
PARAMETERS = [
    ("TEMP", "℃", 180, 220),
    ("PRESS", "MPa", 8, 12),
    ("SPEED", "rpm", 1100, 1300),
    ("CYCLE", "s", 28, 34),
]
WORK_ORDERS = [f"WO2024{i:05d}" for i in range(1, 2001)]
EQUIPMENT = [f"EQ-L{line}-{n:02d}" for line in range(1, 6) for n in range(1, 9)]
FORMAT = "%Y-%m-%d %H:%M:%S"

MAPPING = {
    "entity": "process_parameter",
    "sources": ["pp"],
    "columns": {
        "work_order_no": {"from": "wo_no", "steps": ["trim"]},
        "equipment_code": {"from": "equip_code", "steps": ["trim"]},
        "parameter": {"from": "param_name", "steps": ["trim"]},
        "recorded_at": {"from": "recorded_at", "steps": [{"datetime": {"formats": [FORMAT]}}]},
        "value": {"from": "value", "steps": ["decimal"]},
        "uom": {"from": "uom", "steps": [{"value_map": "measurement_unit"}]},
        "lower_limit": {"from": "lower_limit", "steps": ["decimal"]},
        "upper_limit": {"from": "upper_limit", "steps": ["decimal"]},
    },
    "duplicates": {"policy": "reject_all"},
    "rules": [
        {"not_null": ["value", "recorded_at"]},
        {"range": {"column": "value", "min": -1000000, "max": 1000000}},
        {"in_set": {"column": "parameter", "values": [p[0] for p in PARAMETERS]}},
        {"regex": {"column": "equipment_code", "pattern": r"EQ-L\d-\d\d"}},
        {"compare": {"left": "upper_limit", "op": ">=", "right": "lower_limit"}},
        {"range": {"column": "lower_limit", "min": 0}},
    ],
}


def build_project(root: Path, rows: int, chunk: int) -> Project:
    shutil.rmtree(root, ignore_errors=True)
    (root / "mappings" / "values").mkdir(parents=True)
    spec = {
        "name": "bench-map",
        "target": f"sqlite:///{root / 'target.db'}",
        "staging": f"sqlite:///{root / 'staging.db'}",
        "defaults": {"chunk_size": chunk},
        "sources": {"pp": {"kind": "sql", "url": "sqlite:///unused.db", "table": "pp"}},
    }
    (root / "project.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    (root / "mappings" / "process_parameter.yaml").write_text(
        yaml.safe_dump(MAPPING, allow_unicode=True), "utf-8"
    )
    units = {"strict": True, "entries": {u: u for _, u, _, _ in PARAMETERS}}
    (root / "mappings" / "values" / "measurement_unit.yaml").write_text(
        yaml.safe_dump(units, allow_unicode=True), "utf-8"
    )
    stage(root / "staging.db", rows)
    return Project(root)


def stage(path: Path, rows: int) -> None:
    """Text staging as extract writes it, plus the referenced entities' mapped keys."""
    rng = random.Random(7)
    conn = sqlite3.connect(path)
    cols = ["wo_no", "equip_code", "param_name", "recorded_at", "value", "uom", "lower_limit", "upper_limit"]
    conn.execute(
        'CREATE TABLE stg_pp ("_row_id" INTEGER PRIMARY KEY, "_source" TEXT, "_file" TEXT, "_sheet" TEXT, '
        '"_row" INTEGER, "_run" INTEGER, ' + ", ".join(f'"{c}" TEXT' for c in cols) + ")"
    )
    start = pd.Timestamp("2024-01-01 00:00:00")

    def row(i: int) -> tuple:
        name, uom, low, high = PARAMETERS[i % 4]
        wo = WORK_ORDERS[(i // 500) % len(WORK_ORDERS)]
        stamp = (
            (start + pd.Timedelta(seconds=i // 4)).strftime(FORMAT)
            if i % 1000 != 7
            else "2024-02-30 10:00:00"
        )
        value = f"{rng.uniform(low, high):.3f}" if i % 1000 != 3 else "12,5"
        if i % 1000 == 5:
            wo = "WO2099" + str(i)
        equip = EQUIPMENT[(i // 4) % len(EQUIPMENT)]
        return (
            i + 1,
            "pp",
            "mes.db",
            "process_parameters",
            i + 1,
            1,
            wo,
            equip,
            name,
            stamp,
            value,
            uom,
            str(low),
            str(high),
        )

    marks = ", ".join("?" * 14)
    for first in range(0, rows, 100_000):
        conn.executemany(
            f"INSERT INTO stg_pp VALUES ({marks})", [row(i) for i in range(first, min(rows, first + 100_000))]
        )
    conn.execute('CREATE TABLE map_work_order ("_row_id" INTEGER PRIMARY KEY, "work_order_no" TEXT)')
    conn.executemany("INSERT INTO map_work_order (work_order_no) VALUES (?)", [(w,) for w in WORK_ORDERS])
    conn.execute('CREATE TABLE map_equipment ("_row_id" INTEGER PRIMARY KEY, "equipment_code" TEXT)')
    conn.executemany("INSERT INTO map_equipment (equipment_code) VALUES (?)", [(e,) for e in EQUIPMENT])
    conn.commit()
    conn.close()


def read_all(project: Project, chunk: int) -> list[pd.DataFrame]:
    store = WorkStore(project.staging_url)
    columns = store.columns("stg_pp")
    frames = list(
        read_staged(store.engine, "stg_pp", [c for c in columns if c not in ("_row_id", "_run")], chunk)
    )
    store.dispose()
    return frames


def map_core(project: Project, frames: list[pd.DataFrame]) -> tuple[float, int]:
    plan = load_plans(project, ("process_parameter",))["process_parameter"].sources[0]
    refs = {"work_order_no": pa.array(WORK_ORDERS), "equipment_code": pa.array(EQUIPMENT)}
    started, cpu = time.perf_counter(), time.process_time()
    mapped = sum(len(map_chunk(plan, frame, refs).mapped) for frame in frames)
    return time.perf_counter() - started, mapped, time.process_time() - cpu


def pandas_work(frame: pd.DataFrame, work_orders: pd.Index, equipment: pd.Index) -> pd.DataFrame:
    """The baseline: the same parsing, rules and lookups in plain pandas (floats, no messages)."""
    out = pd.DataFrame({"wo": frame["wo_no"].str.strip(), "equip": frame["equip_code"].str.strip()})
    out["parameter"] = frame["param_name"].str.strip()
    local = pd.to_datetime(frame["recorded_at"], format=FORMAT, errors="coerce")
    out["recorded_at"] = local.dt.tz_localize(
        "Asia/Shanghai", ambiguous="NaT", nonexistent="NaT"
    ).dt.tz_convert("UTC")
    for col in ("value", "lower_limit", "upper_limit"):
        out[col] = pd.to_numeric(frame[col], errors="coerce")
    out["uom"] = frame["uom"].where(frame["uom"].isin([p[1] for p in PARAMETERS]))
    ok = out["value"].notna() & out["recorded_at"].notna() & out["uom"].notna()
    ok &= out["value"].between(-1_000_000, 1_000_000)
    ok &= out["parameter"].isin([p[0] for p in PARAMETERS])
    ok &= out["equip"].str.fullmatch(r"EQ-L\d-\d\d").fillna(False).astype(bool)
    ok &= out["upper_limit"] >= out["lower_limit"]
    ok &= out["lower_limit"] >= 0
    ok &= out["wo"].isin(work_orders) & out["equip"].isin(equipment)
    return out[ok]


def pandas_core(frames: list[pd.DataFrame]) -> tuple[float, int]:
    wos, eqs = pd.Index(WORK_ORDERS), pd.Index(EQUIPMENT)
    started, cpu = time.perf_counter(), time.process_time()
    kept = sum(len(pandas_work(frame, wos, eqs)) for frame in frames)
    return time.perf_counter() - started, kept, time.process_time() - cpu


def pandas_end_to_end(project: Project, chunk: int) -> tuple[float, int]:
    store = WorkStore(project.staging_url)
    wos, eqs = pd.Index(WORK_ORDERS), pd.Index(EQUIPMENT)
    started, cpu = time.perf_counter(), time.process_time()
    kept = 0
    with store.engine.connect() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS baseline_out")
        for frame in pd.read_sql('SELECT * FROM stg_pp ORDER BY "_row_id"', conn, chunksize=chunk):
            done = pandas_work(frame, wos, eqs)
            done.to_sql("baseline_out", conn, if_exists="append", index=False)
            kept += len(done)
        conn.commit()
    store.dispose()
    return time.perf_counter() - started, kept, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=ROOT / "out" / "map")
    args = parser.parse_args()
    project = build_project(args.dir, args.rows, args.chunk)
    frames = read_all(project, args.chunk)
    results = {}
    results["map core"] = map_core(project, frames)
    results["pandas core"] = pandas_core(frames)
    del frames
    started, cpu = time.perf_counter(), time.process_time()
    result = map_entities(project, ["process_parameter"])
    (entity,) = result.entities
    results["map end-to-end"] = (time.perf_counter() - started, entity.mapped, time.process_time() - cpu)
    results["pandas end-to-end"] = pandas_end_to_end(project, args.chunk)
    print(f"process_parameter: {args.rows:,} staged rows, chunk {args.chunk:,}")
    print(f"  load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine)")
    for name, (seconds, kept, cpu) in results.items():
        print(
            f"  {name:<18} wall {seconds:6.2f} s {args.rows / seconds:>9,.0f} rows/s | "
            f"cpu {cpu:6.2f} s {args.rows / cpu:>9,.0f} rows/s  ({kept:,} kept)"
        )
    print(
        f"  map accounting: mapped {entity.mapped:,} rejected {entity.rejected:,} {entity.rejected_by_reason}"
    )
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
