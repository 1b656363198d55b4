"""Benchmark `migrate load`: checkpointed rows/s beside raw sqlite3 executemany and psycopg binary COPY.

    python bench/load.py                 # 100,000 and 1,000,000 process parameters, SQLite and PostgreSQL
    python bench/load.py --quick         # 20,000 and 100,000
    python bench/load.py --pg URL        # use this PostgreSQL server instead of a throwaway one
    python bench/load.py --sizes 1000000 # these row counts only
    python bench/load.py --jobs 1 2      # PostgreSQL: ours on 1 and on 2 connections (the default)

Each measured run is its own process, so peak RSS (ru_maxrss) is that run's alone. The raw
baselines write the same rows, already typed and with ids resolved, into the same table in
large transactions: they are the floor our load's extra work (reading the work store,
checking its input fingerprint, resolving natural keys, comparing with the target, ledger,
digest records, checkpoint) is measured against. The store carries the fingerprint `migrate
map` records as it writes (computed before the clock starts, like the baselines' typed rows),
so load reads it as it does after a real `migrate map`, not the whole store again.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from migrate import db  # noqa: E402
from migrate.model import ENTITIES  # noqa: E402
from migrate.store import LINEAGE, input_fingerprint, mapped_table, record_fingerprint  # noqa: E402
from tests.load.mapped import T0, make_store  # noqa: E402

CHUNK = 50_000


def pp_row(i: int) -> tuple:
    at = T0 + timedelta(seconds=i, microseconds=(i * 7919) % 1_000_000 if i % 3 == 0 else 0)
    return (
        f"WO{i % 20:04}",
        f"E{i % 5:02}",
        f"temp{i % 4}",
        at.isoformat(),
        f"{(i * 37) % 1000}.{i % 1_000_000:06}",
        "°C",
        "0.000000",
        "999.000000",
        "true" if i % 11 else "false",
    )


def build_store(path: Path, rows: int) -> str:
    """Parents plus `rows` mapped process parameters, written in batches (memory stays flat),
    each mapped table with the input fingerprint `migrate map` records as it writes, so load
    reads it instead of reading the store again, as after a real `migrate map`."""
    url = make_store(path, 0)
    con = sqlite3.connect(path)
    columns = ENTITIES["process_parameter"].mapped_columns
    marks = ", ".join("?" for _ in range(len(LINEAGE) + len(columns) + 1))
    with con:
        for start in range(0, rows, 100_000):
            batch = [
                (i + 1, "mes", "pp.csv", None, i + 2, *pp_row(i))
                for i in range(start, min(rows, start + 100_000))
            ]
            con.executemany(f'INSERT INTO "map_process_parameter" VALUES ({marks})', batch)
    con.close()
    engine = db.make_engine(url)
    for entity, spec in ENTITIES.items():
        table = mapped_table(entity)
        record_fingerprint(engine, table, *input_fingerprint(engine, table, list(spec.mapped_columns)))
    engine.dispose()
    return url


def fresh_target(kind: str, work: Path, pg: str | None, tag: str) -> str:
    if kind == "sqlite":
        url = f"sqlite:///{work / f'target_{tag}.db'}"
    else:
        from sqlalchemy import text

        admin = db.make_engine(pg, isolation_level="AUTOCOMMIT")
        name = f"bench_{tag}"
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = f"{pg.rpartition('/')[0]}/{name}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    return url


# -- the measured runs (each in its own process) ------------------------------------------
def typed_rows(rows: int, ids: dict[str, dict[str, int]], kind: str):
    """The rows as the raw baselines insert them: typed for the backend, ids resolved."""
    for i in range(rows):
        wo, eq, param, at, value, uom, lo, hi, ok = pp_row(i)
        stamp = datetime.fromisoformat(at)
        if kind == "sqlite":
            yield (
                ids["work_order"][wo],
                ids["equipment"][eq],
                param,
                stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
                value,
                uom,
                lo,
                hi,
                1 if ok == "true" else 0,
            )
        else:
            yield (
                ids["work_order"][wo],
                ids["equipment"][eq],
                param,
                stamp,
                Decimal(value),
                uom,
                Decimal(lo),
                Decimal(hi),
                ok == "true",
            )


COLS = "work_order_id, equipment_id, parameter, recorded_at, value, uom, lower_limit, upper_limit, in_spec"


def parent_ids(url: str) -> dict[str, dict[str, int]]:
    from sqlalchemy import text

    engine = db.make_engine(url)
    with engine.connect() as c:
        out = {
            "work_order": dict(c.execute(text("SELECT work_order_no, id FROM work_order")).all()),
            "equipment": dict(c.execute(text("SELECT equipment_code, id FROM equipment")).all()),
        }
    engine.dispose()
    return out


class ChunkClock:
    """A `Progress` noting the wall-clock time each chunk ends (the load advances its task
    once per committed chunk), so a run reports its first and last chunks' times."""

    def __init__(self) -> None:
        self.marks = [time.perf_counter()]

    def task(self, description: str, total: int | None = None, unit: str = "rows") -> ChunkClock:
        self.marks = [time.perf_counter()]
        return self

    def advance(self, amount: int = 1) -> None:
        if amount > 0:
            self.marks.append(time.perf_counter())

    def update(self, **_) -> None:
        pass

    def chunk_seconds(self, jobs: int = 1) -> list[float]:
        """Time per chunk: on `jobs` connections chunks end in bursts, so the time over `jobs`
        consecutive ends, divided by `jobs`."""
        return [(self.marks[i + jobs] - self.marks[i]) / jobs for i in range(len(self.marks) - jobs)]


def raw_sqlite(url: str, prepared: list[tuple], clock: ChunkClock) -> None:
    con = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    gen = iter(prepared)
    while True:
        batch = [r for _, r in zip(range(CHUNK), gen, strict=False)]
        if not batch:
            break
        con.execute("BEGIN")
        con.executemany(f"INSERT INTO process_parameter ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
        con.execute("COMMIT")
        clock.advance(len(batch))
    con.close()


def raw_copy(url: str, prepared: list[tuple], clock: ChunkClock) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with psycopg.connect(**u.translate_connect_args(username="user", database="dbname")) as con:
        gen = iter(prepared)
        while True:
            batch = [r for _, r in zip(range(CHUNK), gen, strict=False)]
            if not batch:
                break
            with (
                con.cursor() as cur,
                cur.copy(f"COPY process_parameter ({COLS}) FROM STDIN (FORMAT BINARY)") as cp,
            ):
                cp.set_types(
                    ["int4", "int4", "text", "timestamptz", "numeric", "text", "numeric", "numeric", "bool"]
                )
                for r in batch:
                    cp.write_row(r)
            con.commit()
            clock.advance(len(batch))


def ours(url: str, store: str, clock: ChunkClock, jobs: int = 1) -> None:
    from migrate.load import load

    load(url, store, ["process_parameter"], chunk_size=CHUNK, operator="bench", progress=clock, jobs=jobs)


def prepare_parents(url: str, store: str) -> None:
    from migrate.load import load

    names = [e for e in ENTITIES if e != "process_parameter"]
    load(url, store, names, operator="bench")


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over an exec from the
    forking parent, so a child of a big parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ticks(pid: int) -> tuple[int, int, int]:
    """(parent pid, CPU ticks of the process, CPU ticks of its waited-for children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def server_cpu_s(postmaster: int | None) -> float:
    """CPU seconds used so far by a PostgreSQL server: the postmaster, its live children
    (backends, checkpointer, walwriter, autovacuum...) and those that exited."""
    if postmaster is None:
        return 0.0
    _, own, exited = _ticks(postmaster)
    live = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent, ticks, _ = _ticks(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
            live += ticks if parent == postmaster else 0
    return (own + exited + live) / os.sysconf("SC_CLK_TCK")


def postmaster_pid(url: str) -> int | None:
    """The server's postmaster, if it runs on this machine (the parent of our backend)."""
    if url.startswith("sqlite"):
        return None
    from sqlalchemy import text

    engine = db.make_engine(url)
    try:
        with engine.connect() as c:  # read while the backend lives
            return _ticks(c.execute(text("SELECT pg_backend_pid()")).scalar())[0]
    except OSError:
        return None
    finally:
        engine.dispose()


def client_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def child(args: argparse.Namespace) -> None:
    prepare_parents(args.url, args.store)
    kind = "sqlite" if args.url.startswith("sqlite") else "postgresql"
    # the baselines get their rows typed and in memory before the clock starts
    prepared = [] if args.what == "ours" else list(typed_rows(args.rows, parent_ids(args.url), kind))
    clock = ChunkClock()
    server = postmaster_pid(args.url)
    cpu0, server0 = client_cpu_s(), server_cpu_s(server)
    started = time.perf_counter()
    if args.what == "ours":
        ours(args.url, args.store, clock, args.jobs)
    elif args.what == "sqlite3":
        raw_sqlite(args.url, prepared, clock)
    else:
        raw_copy(args.url, prepared, clock)
    seconds = time.perf_counter() - started
    cpu = {"client_cpu_s": client_cpu_s() - cpu0, "server_cpu_s": server_cpu_s(server) - server0}
    rss = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "rss_mb": rss, "chunks": clock.chunk_seconds(args.jobs), **cpu}))


def measure(what: str, url: str, store: str, rows: int, jobs: int = 1) -> dict:
    argv = ["--child", what, "--url", url, "--store", store, "--rows", str(rows), "--jobs", str(jobs)]
    out = subprocess.run(
        [sys.executable, __file__, *argv],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"{what} failed:\n{out.stderr}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return {**data, "rows_per_s": rows / data["seconds"], **first_last(data["chunks"])}


def first_last(chunks: list[float]) -> dict:
    """Median time of the first three and of the last three chunks (one slow chunk on a shared
    machine says nothing about growth), and their ratio: the per-chunk growth."""
    if len(chunks) < 6:
        return {}
    first, last = statistics.median(chunks[:3]), statistics.median(chunks[-3:])
    return {"first_chunk_s": first, "last_chunk_s": last, "growth": last / first}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pg", help="PostgreSQL server URL (default: a throwaway cluster)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="row counts to measure (default 100,000 and 1,000,000)"
    )
    parser.add_argument("--child"), parser.add_argument("--url"), parser.add_argument("--store")
    parser.add_argument("--rows", type=int)
    parser.add_argument(
        "--jobs",
        type=int,
        nargs="+",
        default=[1, 2],
        help="PostgreSQL: connections of our load (default 1 2)",
    )
    args = parser.parse_args()
    if args.child:
        args.what, args.jobs = args.child, args.jobs[0]
        child(args)
        return 0
    sizes = tuple(args.sizes or ((20_000, 100_000) if args.quick else (100_000, 1_000_000)))
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    pg, cluster = args.pg, None
    if pg is None and args.only != "sqlite":
        from tests import pgserver

        # a folder of its own: the cluster's owner (postgres, when run as root) must reach it
        cluster = Path(tempfile.mkdtemp(prefix="bench-load-pg-"))
        pg = pgserver.start(cluster)
        pgserver.wait_ready(pg)
    try:
        kinds = [args.only] if args.only else ["sqlite", "postgresql"]
        report(run_all(kinds, sizes, work, pg, args.jobs))
    finally:
        if cluster is not None:
            from tests import pgserver

            pgserver.stop(cluster)
    return 0


def runs(kind: str, jobs: list[int]) -> list[tuple[str, str, int]]:
    """(label, what, jobs) of each measured run: ours (on each number of connections, PostgreSQL
    only) and then the raw baseline."""
    if kind == "sqlite":
        return [("ours", "ours", 1), ("sqlite3", "sqlite3", 1)]
    return [*((("ours" if j == 1 else f"ours-j{j}"), "ours", j) for j in jobs), ("copy", "copy", 1)]


def run_all(
    kinds: list[str], sizes: tuple[int, ...], work: Path, pg: str | None, jobs: list[int]
) -> list[dict]:
    results = []
    for rows in sizes:
        store = build_store(work / f"store_{rows}.db", rows)
        for kind in kinds:
            for label, what, j in runs(kind, jobs):
                url = fresh_target(kind, work, pg, f"{kind[:2]}_{label.replace('-', '_')}_{rows}")
                r = measure(what, url, store, rows, j)
                results.append({"backend": kind, "rows": rows, "what": label, **r})
                chunks = (
                    f"  chunk first {r['first_chunk_s']:.2f} s last {r['last_chunk_s']:.2f} s "
                    f"(x{r['growth']:.2f})"
                    if "growth" in r
                    else ""
                )
                cpu = f"  CPU client {r['client_cpu_s']:.1f} s server {r['server_cpu_s']:.1f} s"
                print(
                    f"{kind:10} {rows:>9,} {label:8} {r['rows_per_s']:>10,.0f} rows/s  "
                    f"{r['seconds']:6.1f} s  peak RSS {r['rss_mb']:6.0f} MB{chunks}{cpu}  "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    return results


def report(results: list[dict]) -> None:
    print("\nsummary")
    for kind in sorted({r["backend"] for r in results}):
        rows = sorted({r["rows"] for r in results})
        by = {(r["rows"], r["what"]): r for r in results if r["backend"] == kind}
        base, goal = ("sqlite3", 0.5) if kind == "sqlite" else ("copy", 0.8)
        labels = sorted({w for (_, w) in by if w.startswith("ours")})
        for n in rows:
            raw = by[(n, base)]
            for label in labels:
                ours = by[(n, label)]
                ratio = ours["rows_per_s"] / raw["rows_per_s"]
                cpu = (ours["client_cpu_s"] + ours["server_cpu_s"]) / max(
                    1e-9, raw["client_cpu_s"] + raw["server_cpu_s"]
                )
                print(
                    f"{kind:10} {n:>9,} rows: {label}/raw = {ratio:.2f} (goal >= {goal}); CPU {label}/raw = {cpu:.2f}"
                )
                if "growth" in ours:
                    print(
                        f"{kind:10} {n:>9,} rows: {label} last/first chunk = {ours['growth']:.2f} (goal <= 1.3; "
                        f"{base}: {raw.get('growth', float('nan')):.2f})"
                    )
        if len(rows) > 1:
            growth = by[(rows[-1], "ours")]["rss_mb"] / by[(rows[0], "ours")]["rss_mb"]
            print(f"{kind:10} peak RSS {rows[-1]:,} / {rows[0]:,} rows = {growth:.2f} (goal <= 1.2)")


if __name__ == "__main__":
    raise SystemExit(main())
