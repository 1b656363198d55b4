"""Reconcile benchmark: N rows x 12 columns with planted differences, ours beside datacompy.

    .venv/bin/python bench/reconcile.py --rows 1000000
    .venv/bin/python bench/reconcile.py --rows 10000000 --only pushdown

Both sides are SQLite tables of canonical text (as the work store holds them). Generation
and each contender run in their own subprocess, so each peak RSS (ru_maxrss) is the
contender's own. datacompy reads both tables with pandas.read_sql and compares in memory
(its documented use). Ours: `rows` reads both tables as Arrow in storage order (large SQLite
sides through the ADBC driver in reader processes, whose peak RSS is added), splits them by key
hash into buckets and compares each bucket pair; `pushdown` checksums key ranges in SQL, bisects
the ranges that differ and reads back only their rows. The difference counts must be identical."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COLUMNS = ["k", *(f"d{i}" for i in range(5)), *(f"t{i}" for i in range(6))]  # key + 11 compared = 12
BLOCK = 200_000
RATE = 0.001  # per block: 0.1% rows missing, 0.1% only on the right, 0.1% with one changed value


def generate(path: Path, rows: int) -> None:
    """Block by block (bounded memory), blocks written in shuffled order."""
    import sqlite3

    db = sqlite3.connect(path)
    for name in ("expected", "actual"):
        db.execute(f"CREATE TABLE {name} ({', '.join(f'{c} TEXT' for c in COLUMNS)})")
    blocks = np.random.default_rng(0).permutation(max(1, rows // BLOCK))
    for b in blocks:
        left, right = _block(int(b), min(BLOCK, rows))
        db.executemany(f"INSERT INTO expected VALUES ({', '.join('?' * 12)})", left)
        db.executemany(f"INSERT INTO actual VALUES ({', '.join('?' * 12)})", right)
        db.commit()
    db.close()
    index(path)


def index(path: Path) -> None:
    """The real sides have an index on the key (the target's natural key is UNIQUE; reconcile
    indexes map_<entity> on its key): so do the bench tables. Idempotent."""
    import sqlite3

    with sqlite3.connect(path) as db:
        for name in ("expected", "actual"):
            db.execute(f"CREATE INDEX IF NOT EXISTS ix_{name}_k ON {name} (k)")


def _block(b: int, n: int) -> tuple[list[tuple], list[tuple]]:
    rng = np.random.default_rng(1000 + b)
    keys = [f"K{b * BLOCK + i:09d}" for i in range(n)]
    decimals = [[f"{v:.6f}" for v in np.round(rng.uniform(0, 10_000, n), 3)] for _ in range(5)]
    codes = [list(rng.choice([f"value-{j}" for j in range(50)], n)) for _ in range(6)]
    left = list(zip(keys, *decimals, *codes, strict=True))
    planted = int(n * RATE)
    picked = rng.choice(n, planted * 3, replace=False)
    missing, extra, edit = set(picked[:planted]), picked[planted : 2 * planted], picked[2 * planted :]
    right = [list(r) for i, r in enumerate(left) if i not in missing]
    index = {r[0]: r for r in right}
    for m, i in enumerate(edit):
        row, col = index[left[i][0]], 1 + m % 11
        row[col] = "x" if col > 5 else f"{float(row[col]) + 0.000001:.6f}"
    right += [[f"X{b * BLOCK + i:09d}", *left[i][1:]] for i in extra]
    order = rng.permutation(len(right))
    return [left[i] for i in rng.permutation(n)], [tuple(right[i]) for i in order]


SPARSE = 10  # the sparse variant: this many rows of each kind differ in the whole table


def make_sparse(dense: Path, sparse: Path) -> None:
    """The push-down's case: the actual side a copy of the expected side but for a few rows
    (SPARSE missing, SPARSE only on the right, SPARSE changed), spread over the key range."""
    import shutil
    import sqlite3

    shutil.copy(dense, sparse)
    with sqlite3.connect(sparse) as db:
        db.execute("DELETE FROM actual")
        db.execute("INSERT INTO actual SELECT * FROM expected")
        keys = [r[0] for r in db.execute("SELECT k FROM expected ORDER BY k")]
        picked = [keys[i] for i in np.linspace(0, len(keys) - 1, 3 * SPARSE).astype(int)]
        for m, k in enumerate(picked[:SPARSE]):
            db.execute(f"UPDATE actual SET {COLUMNS[1 + m % 11]} = 'x' WHERE k = ?", (k,))
        db.executemany("DELETE FROM actual WHERE k = ?", [(k,) for k in picked[SPARSE : 2 * SPARSE]])
        db.executemany(
            "INSERT INTO actual SELECT 'Y' || substr(k, 2), d0, d1, d2, d3, d4, t0, t1, t2, t3, t4, t5 "
            "FROM expected WHERE k = ?",
            [(k,) for k in picked[2 * SPARSE :]],
        )


def run_rows(path: Path) -> dict:
    from migrate.db import make_engine
    from migrate.reconcile import ColumnRule, compare_tables

    engine = make_engine(f"sqlite:///{path}")
    cols = ", ".join(COLUMNS)
    r = compare_tables(
        engine,
        f"SELECT {cols} FROM expected",
        engine,
        f"SELECT {cols} FROM actual",
        ("k",),
        _rules(ColumnRule),
        chunk_size=25_000,
    )
    return _counts(r)


def run_pushdown(path: Path) -> dict:
    from migrate.db import make_engine
    from migrate.reconcile import ColumnRule
    from migrate.reconcile.pushdown import Side, compare_pushdown

    engine = make_engine(f"sqlite:///{path}")
    sides = [Side(engine, t, {c: c for c in COLUMNS}) for t in ("expected", "actual")]
    r = compare_pushdown(*sides, ("k",), _rules(ColumnRule), batch_rows=25_000)
    return _counts(r) | {"segments": r.segments, "segments_compared": r.segments_compared}


def _rules(ColumnRule) -> dict:
    return {c: ColumnRule("decimal" if c.startswith("d") else "text") for c in COLUMNS[1:]}


def _counts(r) -> dict:
    return {"only_left": r.missing, "only_right": r.only_in_target, "unequal": r.unequal_by_column}


def run_datacompy(path: Path) -> dict:
    import sqlite3

    import datacompy
    import pandas as pd

    with sqlite3.connect(path) as db:
        left = pd.read_sql("SELECT * FROM expected", db)
        right = pd.read_sql("SELECT * FROM actual", db)
    c = datacompy.PandasCompare(left, right, join_columns=["k"])
    unequal = {s["column"]: int(s["unequal_cnt"]) for s in c.column_stats if s["column"] != "k"}
    return {"only_left": len(c.df1_unq_rows), "only_right": len(c.df2_unq_rows), "unequal": unequal}


def copy_to_pg(path: Path, pg_url: str) -> None:
    """The actual side into PostgreSQL (COPY), indexed on k: the production shape, a work store
    on SQLite against a target on a database server."""
    import sqlite3

    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as pg:
        for table in ("expected", "actual"):
            pg.execute(f"DROP TABLE IF EXISTS {table}")
            pg.execute(f"CREATE TABLE {table} ({', '.join(f'{c} TEXT' for c in COLUMNS)})")
            with (
                sqlite3.connect(path) as db,
                pg.cursor().copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for row in db.execute(f"SELECT {', '.join(COLUMNS)} FROM {table}"):
                    copy.write_row(row)
            pg.execute(f"CREATE INDEX ix_{table}_k ON {table} (k)")
            pg.execute(f"ANALYZE {table}")


def _pg_sides(path: Path, pg_url: str, both: bool = False):
    """The expected side on SQLite (a work store) or, `both`, on PostgreSQL too; the actual on PostgreSQL."""
    from migrate.db import make_engine

    target = make_engine(pg_url)
    return (target if both else make_engine(f"sqlite:///{path}")), target


def run_rows_pg(path: Path, pg_url: str) -> dict:
    from migrate.reconcile import ColumnRule, compare_tables

    store, target = _pg_sides(path, pg_url)
    cols = ", ".join(COLUMNS)
    sql = f"SELECT {cols} FROM {{}}"
    r = compare_tables(
        store,
        sql.format("expected"),
        target,
        sql.format("actual"),
        ("k",),
        _rules(ColumnRule),
        chunk_size=25_000,
    )
    return _counts(r)


def run_pushdown_pg(path: Path, pg_url: str, both: bool = False) -> dict:
    from migrate.reconcile import ColumnRule
    from migrate.reconcile.pushdown import Side, compare_pushdown

    store, target = _pg_sides(path, pg_url, both)
    sides = [Side(e, t, {c: c for c in COLUMNS}) for e, t in ((store, "expected"), (target, "actual"))]
    r = compare_pushdown(*sides, ("k",), _rules(ColumnRule), batch_rows=25_000)
    return _counts(r) | {"segments": r.segments, "segments_compared": r.segments_compared}


RUNNERS = {"rows": run_rows, "pushdown": run_pushdown, "datacompy": run_datacompy}
PG_RUNNERS = {
    "rows-pg": run_rows_pg,
    "pushdown-pg": run_pushdown_pg,
    "pushdown-pg-pg": lambda path, url: run_pushdown_pg(path, url, both=True),
}


def child(which: str, path: Path, rows: int, pg_url: str | None = None) -> None:
    start = time.perf_counter()
    if which == "generate":
        generate(path, rows)
        counts = {}
    elif which in PG_RUNNERS:
        counts = PG_RUNNERS[which](path, pg_url)
    else:
        counts = RUNNERS[which](path)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": round(rss), "counts": counts}))


def _spawn(which: str, args) -> dict:
    # the parent stays small: a forked child's ru_maxrss starts from its parent's footprint
    cmd = [sys.executable, __file__, "--rows", str(args.rows), "--dir", str(args.dir), "--child", which]
    cmd += ["--sparse"] if args.sparse and which != "generate" else []
    cmd += ["--pg-url", args.pg_url] if args.pg_url else []
    with tempfile.TemporaryFile("w+") as stdout:
        child = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True)
        tree_peak = _tree_peak_mb(child)
        if child.wait() != 0:
            raise SystemExit(f"{which} failed:\n{child.stderr.read()[-3000:]}")
        stdout.seek(0)
        result = json.loads(stdout.read().strip().splitlines()[-1])
    # ours reads large SQLite sides in reader processes of its own: they count too. The peak is
    # the larger of the contender's own exact peak and its process tree's sampled peak.
    result["peak_rss_mb"] = max(result["peak_rss_mb"], round(tree_peak))
    return result


def _tree_peak_mb(child: subprocess.Popen) -> float:
    """The largest RSS sum of a process and its descendants, sampled every 20 ms until it ends."""
    import psutil

    root, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        try:
            total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.Error:  # a reader ended between listing and reading
            continue
        peak = max(peak, total)
        time.sleep(0.02)
    return peak / 2**20


def _pg_contenders(path: Path, args) -> dict:
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests import pgserver

    cluster = Path(tempfile.mkdtemp(prefix="bench-reconcile-pg-"))  # reachable by the postgres user
    try:
        args.pg_url = pgserver.start(cluster)
        pgserver.wait_ready(args.pg_url)
        start = time.perf_counter()
        copy_to_pg(path, args.pg_url)
        print(f"copied the actual side into PostgreSQL in {time.perf_counter() - start:.1f}s", flush=True)
        results = {}
        for which in PG_RUNNERS:
            results[which] = _spawn(which, args)
            print(which, results[which]["seconds"], "s", results[which]["peak_rss_mb"], "MB", flush=True)
        return results
    finally:
        pgserver.stop(cluster)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/reconcile-bench"))
    parser.add_argument("--only", nargs="*", choices=list(RUNNERS), default=list(RUNNERS))
    parser.add_argument("--sparse", action="store_true", help=f"only {SPARSE} differences of each kind")
    parser.add_argument("--child", choices=[*RUNNERS, *PG_RUNNERS, "generate"])
    parser.add_argument(
        "--pg", action="store_true", help="also: SQLite expected side against a PostgreSQL actual side"
    )
    parser.add_argument("--pg-url", help="(internal) the throwaway cluster's URL")
    args = parser.parse_args()
    dense = args.dir / f"bench2-{args.rows}.db"
    path = args.dir / f"bench2-sparse-{args.rows}.db" if args.sparse else dense
    if args.child:
        return child(args.child, path, args.rows, args.pg_url)
    args.dir.mkdir(parents=True, exist_ok=True)
    if not dense.exists():
        made = _spawn("generate", args)
        print(f"generated {args.rows:,} x {len(COLUMNS)} (both sides) in {made['seconds']}s", flush=True)
    index(dense)  # data generated by an earlier version of this script had no index
    if args.sparse and not path.exists():
        make_sparse(dense, path)
    results = {}
    for which in args.only:
        results[which] = _spawn(which, args)
        print(which, results[which]["seconds"], "s", results[which]["peak_rss_mb"], "MB", flush=True)
    if args.pg:
        results |= _pg_contenders(path, args)
    print(json.dumps(results))
    if "datacompy" in results:
        theirs = results["datacompy"]
        for which in set(results) - {"datacompy"}:
            ours = results[which]
            same = {k: ours["counts"][k] for k in theirs["counts"]} == theirs["counts"]
            print(
                f"{which}: {ours['seconds'] / theirs['seconds']:.2f}x datacompy's time, "
                f"{ours['peak_rss_mb'] / theirs['peak_rss_mb']:.2f}x its peak memory, identical counts: {same}"
            )


if __name__ == "__main__":
    main()
