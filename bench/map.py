"""Benchmark: map end to end (work store read + transform + work store write) beside plain
pandas and pyarrow doing the same work on the same SQLite file, in the same run.

    .venv/bin/python bench/map.py                       # 1,000,000 rows, and 100,000 for linearity
    .venv/bin/python bench/map.py --rows 200000 --small 20000 --core

Staged rows are text (as extract writes them), with 0.1% bad decimals, 0.1% impossible
timestamps and 0.1% unknown work orders. The mapping parses three decimals and one
timestamp (Asia/Shanghai -> UTC), maps the unit through a strict value map, applies six
rules and two lookups (work order, equipment), then checks the natural key for duplicates.

Each measurement runs in a process of its own (peak memory: the whole process tree, ingest
and reader processes included), printed in rows/second:
- `map`: `map_entities`: staged rows read from the SQLite work store, mapped, mapped rows and
  rejects written, duplicate check, run record, the input fingerprint recorded for load.
- `pandas+pyarrow`: the baseline: the ADBC SQLite driver reads the staged table as Arrow
  batches, plain pandas does the same parsing, rules and lookups on each in-memory frame
  (floats and datetime64: no canonical text, reject reasons, lineage checks or messages), and
  the ADBC driver writes the kept rows (with `_row_id` and lineage, as map writes) to a table
  of the same file.
- with `--core`: `map core` (`map_chunk` on chunks already in memory) beside `pandas core`
  (`pandas_work` on the same chunks).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import sys
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
    conn.execute("PRAGMA journal_mode=WAL")  # as the work store is (migrate.db.make_engine)
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


def _baseline(root: Path, chunk: int) -> dict:
    """ADBC read -> pandas -> ADBC write, chunk by chunk, on the staging file (nothing else open)."""
    import adbc_driver_sqlite.dbapi as adbc

    wos, eqs = pd.Index(WORK_ORDERS), pd.Index(EQUIPMENT)
    lineage = ["_row_id", "_source", "_file", "_sheet", "_row"]
    parts = {"read": 0.0, "transform": 0.0, "write": 0.0}
    kept, mode = 0, "create"
    started = time.perf_counter()
    with adbc.connect(str(root / "staging.db")) as source, adbc.connect(str(root / "staging.db")) as sink:
        with sink.cursor() as out:
            out.execute("DROP TABLE IF EXISTS baseline_out")
        sink.commit()
        with source.cursor() as cursor:
            mark = time.perf_counter()
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(chunk)})
            cursor.execute('SELECT * FROM stg_pp ORDER BY "_row_id"')
            reader = iter(cursor.fetch_record_batch())
            parts["read"] += time.perf_counter() - mark
            while True:
                mark = time.perf_counter()
                batch = next(reader, None)
                if batch is None:
                    break
                frame = batch.to_pandas()
                parts["read"] += time.perf_counter() - mark
                mark = time.perf_counter()
                done = pandas_work(frame, wos, eqs)
                done = pd.concat([frame.loc[done.index, lineage], done], axis=1)
                parts["transform"] += time.perf_counter() - mark
                mark = time.perf_counter()
                with sink.cursor() as out:
                    out.adbc_ingest(
                        "baseline_out", pa.Table.from_pandas(done, preserve_index=False), mode=mode
                    )
                sink.commit()
                mode = "append"
                parts["write"] += time.perf_counter() - mark
                kept += len(done)
    return {"seconds": time.perf_counter() - started, "kept": kept, **parts}


def _map(root: Path, chunk: int) -> dict:
    from migrate.model import ENTITIES
    from migrate.store import input_fingerprint, stored_fingerprint

    project = Project(root)
    started = time.perf_counter()
    (entity,) = map_entities(project, ["process_parameter"]).entities
    seconds = time.perf_counter() - started
    store = WorkStore(project.staging_url)
    mark = time.perf_counter()
    stored = stored_fingerprint(store.engine, "map_process_parameter")
    stored_s, mark = time.perf_counter() - mark, time.perf_counter()
    columns = list(ENTITIES["process_parameter"].mapped_columns)
    computed = input_fingerprint(store.engine, "map_process_parameter", columns)
    reread_s = time.perf_counter() - mark
    store.dispose()
    assert stored == computed, (stored, computed)
    return {
        "seconds": seconds,
        "kept": entity.mapped,
        "rejected": entity.rejected_by_reason,
        "fingerprint_stored_s": stored_s,
        "fingerprint_reread_s": reread_s,
    }


def _core(root: Path, chunk: int) -> dict:
    project = Project(root)
    frames = read_all(project, chunk)
    map_s, mapped, _ = map_core(project, frames)
    pandas_s, kept, _ = pandas_core(frames)
    return {"seconds": map_s, "kept": mapped, "pandas_seconds": pandas_s, "pandas_kept": kept}


STEPS = {"baseline": _baseline, "map": _map, "core": _core}


def measure(step: str, root: Path, chunk: int) -> dict:
    """One step in a process of its own; its result and the process tree's peak memory."""
    sys.path.insert(0, str(ROOT.parent))
    from tests.treemem import run_measured

    proc, tree_mb = run_measured(
        [sys.executable, __file__, "_measure", step, str(root), str(chunk)], interval=0.1, cwd=ROOT.parent
    )
    if proc.returncode != 0:
        raise SystemExit(f"{step} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["tree_mb"] = round(tree_mb)
    return result


def _line(label: str, rows: int, result: dict) -> str:
    seconds = result["seconds"]
    return (
        f"  {label:<26} {seconds:7.2f} s {rows / seconds:>10,.0f} rows/s  {result['tree_mb']:>5,} MB"
        f"  ({result['kept']:,} kept)  load {result['load']:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="the smaller run, for linearity (0: none)")
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="map and baseline alternately, N times each")
    parser.add_argument("--core", action="store_true", help="also map core vs pandas core (chunks in memory)")
    parser.add_argument("--dir", type=Path, default=ROOT / "out" / "map")
    parser.add_argument(
        "--quick", action="store_true", help="100,000 rows and 10,000 (bench/run_all.py --quick)"
    )
    args = parser.parse_args()
    if args.quick:
        args.rows, args.small = 100_000, 10_000
    sizes = [args.rows] + ([args.small] if args.small else [])
    roots = {n: args.dir / str(n) for n in sizes}
    for n, root in roots.items():
        build_project(root, n, args.chunk)
    print(f"process_parameter, chunk {args.chunk:,}, {os.cpu_count()} CPUs (shared machine)")
    best: dict[tuple[str, int], dict] = {}
    for n in sizes:
        for _ in range(args.repeat):
            for step in ("baseline", "map"):
                load = os.getloadavg()[0]
                result = measure(step, roots[n], args.chunk) | {"load": load}
                label = f"{'pandas+pyarrow' if step == 'baseline' else 'map'} {n:,}"
                print(_line(label, n, result), flush=True)
                if (step, n) not in best or result["seconds"] < best[(step, n)]["seconds"]:
                    best[(step, n)] = result
    big = args.rows
    base, ours = best[("baseline", big)], best[("map", big)]
    print(
        f"  baseline parts at {big:,}: read {base['read']:.2f} s, pandas {base['transform']:.2f} s, "
        f"write {base['write']:.2f} s"
    )
    print(
        f"  map end to end / baseline (throughput): {base['seconds'] / ours['seconds']:.2f}x (goal >= 0.8x)"
    )
    print(f"  map accounting: {ours['kept']:,} mapped, rejected {ours['rejected']}")
    print(
        f"  load's input fingerprint: recorded by map, read in {ours['fingerprint_stored_s']:.3f} s; "
        f"re-reading the table (the fallback) {ours['fingerprint_reread_s']:.2f} s"
    )
    if args.small:
        small = best[("map", args.small)]
        print(
            f"  linearity: map {args.small:,} -> {big:,} rows: time x{ours['seconds'] / small['seconds']:.2f} "
            f"for x{big / args.small:.0f} rows; memory {small['tree_mb']} -> {ours['tree_mb']} MB"
        )
    if args.core:
        core = measure("core", roots[big], args.chunk)
        print(
            f"  core (chunks in memory): map {big / core['seconds']:,.0f} rows/s, "
            f"pandas {big / core['pandas_seconds']:,.0f} rows/s"
        )


def _measured_step() -> None:
    step, root, chunk = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    result = STEPS[step](root, chunk)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_measure":
        _measured_step()
    else:
        main()
