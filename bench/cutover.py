"""Benchmark the whole reference cutover, step by step, beside raw tools doing the same work.

    python bench/cutover.py --rows 1000000                      # SQLite target
    python bench/cutover.py --rows 1000000 --backend postgresql --pg URL
    python bench/cutover.py --rows 100000 --repeat 3            # the cutover three times
    python bench/cutover.py --backend postgresql --jobs 2       # loads on two connections

The legacy factory writes the reference estate at `--rows` (not timed as part of the cutover);
then every phase of phases/plan.yaml is extracted, mapped, loaded and approved (its gates,
the reconcile gate and its cutover point), and the whole target is reconciled, each step one
`migrate` command in its own process: wall time and peak memory of its process tree (PSS,
sampled, workers included). In the same run, each in its own process, the raw baselines for
the same work: reading every source (fastexcel, pyarrow.csv, sqlite3), a pandas transform of
the process-parameter source, writing the loaded rows into copies of the same indexed tables
(sqlite3 executemany / psycopg binary COPY), and a polars join of every mapped table with its
target table for the reconcile. A step that fails (a crash's signal included) is reported.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.treemem import run_measured  # noqa: E402

CHUNK = 50_000


def migrate(directory: Path, target: str | None, *args: str) -> list[str]:
    head = [sys.executable, "-m", "migrate", "--project", str(directory), "--quiet", "--operator", "bench"]
    return [*head, *(["--target", target] if target else []), *args]


def step(name: str, args: list[str]) -> dict:
    """Run one step; its wall time, peak memory (sampled every 0.2 s: the sampling itself costs
    CPU) and CPU time (user + system of the step and every process it waited for: on a
    shared machine, the figure that does not depend on the load)."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done, peak = run_measured(args, interval=0.2, cwd=ROOT)
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    out = {"step": name, "wall": wall, "cpu": cpu, "peak_mb": peak, "rc": done.returncode}
    if done.returncode not in (0,):
        out["error"] = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
    print(
        f"  {name:34} {wall:8.1f} s {cpu:8.1f} s CPU {peak:8.0f} MB  load {os.getloadavg()[0]:4.1f}"
        + (f"  FAILED rc={done.returncode} {out['error']}" if "error" in out else ""),
        flush=True,
    )
    return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cutover(directory: Path, target: str | None, jobs: int = 1) -> list[dict]:
    from migrate.project import Project

    steps = [step("db upgrade", migrate(directory, target, "db", "upgrade"))]
    for phase in Project(directory).plan.phases:
        for verb in ("extract", "map", "load"):
            extra = ["--jobs", str(jobs)] if verb == "load" and jobs > 1 else []
            steps.append(
                step(f"{verb} {phase.name}", migrate(directory, target, verb, "--phase", phase.name, *extra))
            )
        steps.append(
            step(f"approve {phase.name}", migrate(directory, target, "phase", "approve", phase.name))
        )
    steps.append(step("reconcile (all)", migrate(directory, target, "reconcile", "--all")))
    return steps


# -- raw baselines, each run as `cutover.py --baseline NAME --dir D [--target URL]` -----------
def read_sources(directory: Path, _target: str) -> None:
    """Every legacy file and database table read whole by the fastest plain reader."""
    import fastexcel
    import pyarrow.csv as pacsv

    for path in sorted(directory.rglob("*")):
        if ".migrate" in path.parts or not path.is_file():
            continue
        if path.suffix in (".xlsx", ".xls"):
            reader = fastexcel.read_excel(str(path))
            for name in reader.sheet_names:
                reader.load_sheet(name).to_arrow()
        elif path.suffix == ".csv":
            try:
                pacsv.read_csv(path)
            except Exception:  # noqa: BLE001 - a legacy encoding pyarrow does not read: bytes are the floor
                path.read_bytes()
        elif path.suffix in (".db", ".sqlite") and path.name != "staging.db":
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                rows = con.execute(f'SELECT * FROM "{table}"')
                while rows.fetchmany(CHUNK):  # in chunks: a whole 10M-row table would not fit
                    pass
            con.close()


def transform(directory: Path, _target: str) -> None:
    """pandas on the process-parameter source as staged, in chunks of CHUNK rows (memory
    bounded, as a pandas user would at 10M): read, numbers and timestamps parsed."""
    import pandas as pd

    from migrate.project import Project
    from migrate.store import staged_table

    project = Project(directory)
    con = sqlite3.connect(str(project.staging_url.database))
    query = f'SELECT * FROM "{staged_table("mes_process_parameters")}"'
    for frame in pd.read_sql(query, con, chunksize=CHUNK):
        _transform_chunk(frame)
    con.close()


def _transform_chunk(frame) -> None:
    import pandas as pd

    for column in frame.columns:
        if column.startswith("_"):
            continue
        values = frame[column].astype("string").str.strip()
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().mean() > 0.5:
            frame[column] = numbers.round(6)
        elif values.str.match(r"^\d{4}-\d\d-\d\d").mean() > 0.5:
            frame[column] = (
                pd.to_datetime(values, errors="coerce").dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")
            )
        else:
            frame[column] = values.str.upper() if column.endswith("code") else values


def write_rows(_directory: Path, target: str) -> None:
    """Every loaded row written again into a copy of its table (same columns, unique and
    foreign-key indexes, no foreign-key constraints) by executemany or binary COPY."""
    from sqlalchemy import Column, MetaData, Table, UniqueConstraint

    from migrate.db import make_engine
    from migrate.model import MODEL_TABLES

    engine = make_engine(target)
    copies = MetaData()
    tables = []
    for table in MODEL_TABLES:
        columns = [
            Column(c.name, c.type, primary_key=c.primary_key, unique=c.unique, index=bool(c.foreign_keys))
            for c in table.columns
        ]
        uniques = [
            UniqueConstraint(*[c.name for c in u.columns])
            for u in table.constraints
            if isinstance(u, UniqueConstraint)
        ]
        tables.append((table, Table(f"bench_{table.name}", copies, *columns, *uniques)))
    copies.drop_all(engine)
    copies.create_all(engine)
    elapsed = 0.0
    raw = engine.raw_connection()
    try:
        for table, copy in tables:
            columns = [c.name for c in table.columns if c.name not in ("created_at", "updated_at")]
            names = ", ".join(f'"{c}"' for c in columns)
            read = raw.cursor()
            read.execute(f'SELECT {names} FROM "{table.name}"')
            while rows := read.fetchmany(CHUNK):
                started = time.perf_counter()
                _write(raw, engine.dialect.name, copy.name, names, columns, rows)
                elapsed += time.perf_counter() - started
        raw.commit()
    finally:
        raw.close()
        copies.drop_all(engine)
        engine.dispose()
    print(f"write_rows timed part {elapsed:.1f} s", file=sys.stderr)


def _write(raw, dialect: str, table: str, names: str, columns: list[str], rows) -> None:
    if dialect == "sqlite":
        marks = ", ".join("?" for _ in columns)
        raw.cursor().executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
        return
    with raw.driver_connection.cursor() as cur:
        query = "SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s"
        types = [cur.execute(query, (table, column)).fetchone()[0] for column in columns]
        with cur.copy(f'COPY "{table}" ({names}) FROM STDIN (FORMAT BINARY)') as cp:
            cp.set_types(types)
            for row in rows:
                cp.write_row(row)


def join_compare(directory: Path, target: str) -> None:
    """polars: every mapped table and its target table read as Arrow batches into Parquet
    (memory bounded, as a polars user would at 10M), then outer-joined lazily on the natural
    key by the streaming engine, every compared column tested for equality."""
    import polars as pl

    from migrate.db import make_engine
    from migrate.model import ENTITIES
    from migrate.project import Project
    from migrate.reconcile.sides import actual_sql, expected_sql

    project = Project(directory)
    store, engine = make_engine(project.staging_url), make_engine(target)
    left_raw, right_raw = store.raw_connection(), engine.raw_connection()
    with tempfile.TemporaryDirectory(dir=directory / ".migrate") as spill:
        for name, entity in ENTITIES.items():
            columns = entity.mapped_columns
            left = _spill(
                expected_sql(store, name, columns, ordered=False),
                left_raw,
                Path(spill) / "l.parquet",
                columns,
            )
            right = _spill(
                actual_sql(engine, name, columns, ordered=False),
                right_raw,
                Path(spill) / "r.parquet",
                columns,
            )
            key = list(entity.natural_key)
            joined = left.join(right, on=key, how="full", suffix="_t", coalesce=True)
            unequal = [(pl.col(c) != pl.col(f"{c}_t")).sum() for c in columns if c not in key]
            joined.select(unequal or [pl.len()]).collect(engine="streaming")
    left_raw.close()
    right_raw.close()
    store.dispose()
    engine.dispose()


def _spill(query: str, raw, path: Path, columns: tuple[str, ...]):
    """The query's rows written to a Parquet file batch by batch; a lazy scan of it. Every
    column read as text (both sides are canonical text), so each batch has the same schema."""
    import polars as pl
    import pyarrow.parquet as pq

    text = {c: pl.String for c in columns}
    batches = pl.read_database(
        query, raw.driver_connection, iter_batches=True, batch_size=CHUNK, schema_overrides=text
    )
    writer = None
    for batch in batches:
        table = batch.to_arrow()
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table.cast(writer.schema))
    if writer is None:
        return pl.DataFrame(schema=text).lazy()
    writer.close()
    return pl.scan_parquet(path)


BASELINES = {
    "read sources": read_sources,
    "pandas transform": transform,
    "write rows": write_rows,
    "polars join": join_compare,
}


def baselines(directory: Path, target: str) -> list[dict]:
    return [
        step(
            f"raw: {name}",
            [sys.executable, __file__, "--baseline", name, "--dir", str(directory), "--url", target],
        )
        for name in BASELINES
    ]


def target_url(args, directory: Path, run: int) -> str:
    if args.backend == "sqlite":
        return f"sqlite:///{directory / '.migrate' / 'target.db'}"
    from sqlalchemy import text

    from migrate.db import make_engine

    name = f"bench_cutover_{args.rows}_{run}"
    admin = make_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{args.pg.rpartition('/')[0]}/{name}"


def summary(steps: list[dict], raw: list[dict]) -> None:
    ours, floor = sum(s["wall"] for s in steps), sum(s["wall"] for s in raw)
    cpu, raw_cpu = sum(s["cpu"] for s in steps), sum(s["cpu"] for s in raw)
    peak, raw_peak = max(s["peak_mb"] for s in steps), max((s["peak_mb"] for s in raw), default=0)
    failed = [s["step"] for s in steps if s["rc"] != 0]
    versus = (
        f" | raw baselines {floor:.1f} s ({raw_cpu:.1f} s CPU), peak {raw_peak:.0f} MB"
        f" | {ours / floor:.2f}x the baselines ({cpu / raw_cpu:.2f}x in CPU)"
        if raw
        else ""
    )
    print(
        f"  cutover {ours:.1f} s ({cpu:.1f} s CPU), peak {peak:.0f} MB{versus}"
        f" | failed steps: {', '.join(failed) or 'none'} | load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg", help="PostgreSQL server URL for --backend postgresql (default: a throwaway cluster)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="run the cutover this many times")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument(
        "--jobs", type=int, default=1, help="PostgreSQL: load each entity on this many connections"
    )
    parser.add_argument("--keep", action="store_true", help="keep the estate, work store and target")
    parser.add_argument("--baseline", choices=tuple(BASELINES), help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        BASELINES[args.baseline](Path(args.dir), args.url)
        return 0
    cluster = None
    if args.backend == "postgresql" and args.pg is None:
        from tests import pgserver

        cluster = Path(tempfile.mkdtemp(prefix="bench-cutover-pg-"))
        args.pg = pgserver.start(cluster)
        pgserver.wait_ready(args.pg)
    try:
        runs(args)
    finally:
        if cluster is not None:
            from tests import pgserver

            pgserver.stop(cluster)
    return 0


def runs(args: argparse.Namespace) -> None:
    for run in range(args.repeat):
        directory = Path(tempfile.mkdtemp(prefix="bench-cutover-")) / "project"
        print(f"{args.backend}, --rows {args.rows:,}, run {run + 1} in {directory}", flush=True)
        step(
            "factory (not counted)",
            [
                sys.executable,
                "-c",
                f"from migrate.demo import prepare; prepare({str(directory)!r}, rows={args.rows})",
            ],
        )
        target = target_url(args, directory, run)
        steps = cutover(directory, None if args.backend == "sqlite" else target, args.jobs)
        raw = [] if args.no_baselines else baselines(directory, target)
        summary(steps, raw)
        failed = any(s["rc"] != 0 for s in [*steps, *raw])
        if not (args.keep or failed):  # a 10M estate, its work store and target are about 8 GB
            shutil.rmtree(directory.parent, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
