"""Reconcile benchmark: N rows x 12 columns with planted differences, ours beside datacompy.

    .venv/bin/python bench/reconcile.py --rows 1000000

Both sides are SQLite tables (the work store's canonical text). Each contender runs in
its own subprocess, so each peak RSS (ru_maxrss) is its own: datacompy reads both tables
with pandas.read_sql and compares in memory (its documented use); ours streams both
tables in key order and compares aligned chunks (`migrate.reconcile.compare_tables`).
The difference counts must be identical."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ["k", *(f"d{i}" for i in range(5)), *(f"t{i}" for i in range(6))]  # key + 11 compared = 12
PLANTED = 1000


def generate(path: Path, rows: int) -> None:
    import sqlite3

    rng = np.random.default_rng(42)
    keys = np.arange(rows)
    frame = pd.DataFrame({"k": [f"K{k:09d}" for k in keys]})
    for i in range(5):
        frame[f"d{i}"] = [f"{v:.6f}" for v in np.round(rng.uniform(0, 10_000, rows), 3)]
    for i in range(6):
        frame[f"t{i}"] = rng.choice([f"value-{j}" for j in range(50)], rows)
    right = frame.copy()
    changed = rng.choice(rows, PLANTED * 3, replace=False)
    missing, extra_src, edit = changed[:PLANTED], changed[PLANTED : 2 * PLANTED], changed[2 * PLANTED :]
    for n, row in enumerate(edit):
        col = COLUMNS[1 + n % 11]
        right.at[row, col] = "x" if col.startswith("t") else f"{float(right.at[row, col]) + 0.000001:.6f}"
    extra = right.iloc[extra_src].copy()
    extra["k"] = [f"X{k:09d}" for k in range(len(extra))]
    right = pd.concat([right.drop(index=missing), extra]).sample(frac=1, random_state=1)  # shuffled
    with sqlite3.connect(path) as db:
        for name, data in (("expected", frame.sample(frac=1, random_state=2)), ("actual", right)):
            db.execute(f"CREATE TABLE {name} ({', '.join(f'{c} TEXT' for c in COLUMNS)})")
            db.executemany(
                f"INSERT INTO {name} VALUES ({', '.join('?' * len(COLUMNS))})", data.itertuples(index=False)
            )


def run_ours(path: Path) -> dict:
    from migrate.db import make_engine
    from migrate.reconcile import ColumnRule, compare_tables

    engine = make_engine(f"sqlite:///{path}")
    cols = ", ".join(COLUMNS)
    rules = {c: ColumnRule("decimal" if c.startswith("d") else "text") for c in COLUMNS[1:]}
    r = compare_tables(
        engine,
        f"SELECT {cols} FROM expected ORDER BY k",
        engine,
        f"SELECT {cols} FROM actual ORDER BY k",
        ("k",),
        rules,
        chunk_size=25_000,
    )
    return {"only_left": r.missing, "only_right": r.only_in_target, "unequal": r.unequal_by_column}


def run_datacompy(path: Path) -> dict:
    import sqlite3

    import datacompy

    with sqlite3.connect(path) as db:
        left = pd.read_sql("SELECT * FROM expected", db)
        right = pd.read_sql("SELECT * FROM actual", db)
    c = datacompy.PandasCompare(left, right, join_columns=["k"])
    unequal = {s["column"]: int(s["unequal_cnt"]) for s in c.column_stats if s["column"] != "k"}
    return {"only_left": len(c.df1_unq_rows), "only_right": len(c.df2_unq_rows), "unequal": unequal}


def child(which: str, path: Path) -> None:
    start = time.perf_counter()
    counts = run_ours(path) if which == "ours" else run_datacompy(path)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": round(rss), "counts": counts}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/reconcile-bench"))
    parser.add_argument("--child", choices=["ours", "datacompy"])
    args = parser.parse_args()
    path = args.dir / f"bench-{args.rows}.db"
    if args.child:
        return child(args.child, path)
    args.dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        t = time.perf_counter()
        generate(path, args.rows)
        print(f"generated {args.rows:,} x {len(COLUMNS)} in {time.perf_counter() - t:.1f}s")
    results = {}
    for which in ("ours", "datacompy"):
        out = subprocess.run(
            [sys.executable, __file__, "--rows", str(args.rows), "--dir", str(args.dir), "--child", which],
            check=True,
            capture_output=True,
            text=True,
        )
        results[which] = json.loads(out.stdout.strip().splitlines()[-1])
        print(which, results[which]["seconds"], "s", results[which]["peak_rss_mb"], "MB")
    ours, theirs = results["ours"], results["datacompy"]
    print(json.dumps(results, indent=1))
    print(
        f"time ratio {ours['seconds'] / theirs['seconds']:.2f}x, memory ratio "
        f"{ours['peak_rss_mb'] / theirs['peak_rss_mb']:.2f}x, identical counts: {ours['counts'] == theirs['counts']}"
    )


if __name__ == "__main__":
    main()
