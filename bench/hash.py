"""Benchmark `content_hash` (cutover points, rollback, rehearsal) on the high-volume table.

    python bench/hash.py                      # 1,000,000 process parameters, SQLite and PostgreSQL
    python bench/hash.py --rows 100000
    python bench/hash.py --target URL ...     # hash targets already loaded (no build)
    python bench/hash.py --pg URL             # use this PostgreSQL server instead of a throwaway one

Beside it, in the same run and on the same table: the raw read of the table's rows (sqlite3
`fetchall` of every column; PostgreSQL `COPY table TO STDOUT`), the floor any hash that reads
the rows must pay, and the previous implementation (every row through SQLAlchemy's types,
`to_canonical`, JSON and SHA-256 in Python), measured on the first 100,000 rows and scaled.
On PostgreSQL the lines alone are timed too: rendered and counted in the server, nothing
sorted or sent, the floor of any hash over this canonical form. On SQLite the hash of one
connection alone is timed too (a large table is otherwise sorted as
two shares, one in a process of its own). Wall and CPU seconds are printed: this process's and
its children's (SQLite works in them) and, on PostgreSQL, the server's (backend and parallel
workers, read from /proc: the server must run on this machine; with --pg or --target on a
shared server, other sessions' work is counted too). Under load, CPU seconds are what a quiet
machine's wall time would be on one core.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bench.load import build_store, fresh_target  # noqa: E402
from migrate.db import make_engine  # noqa: E402
from migrate.load import hashing, load  # noqa: E402
from migrate.load.hashing import connection_hash  # noqa: E402
from migrate.model import process_parameter  # noqa: E402
from migrate.store import to_canonical  # noqa: E402

TABLE = "process_parameter"
LEGACY_ROWS = 100_000


def _tree_cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the SQLite share process)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn, *args) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), _tree_cpu()
    out = fn(*args)
    return time.perf_counter() - wall, _tree_cpu() - cpu, out


def one_connection(engine) -> tuple[str, float]:
    """SQLite's hash on the caller's connection alone (what a small table, or a connection with
    a transaction of its own, gets), for the same run's comparison."""
    shared_from, hashing.SHARED_FROM_ROWS = hashing.SHARED_FROM_ROWS, 1 << 62
    try:
        return hashed(engine)
    finally:
        hashing.SHARED_FROM_ROWS = shared_from


def raw_read(engine) -> float:
    """Every stored column of every row, read by the driver with no conversion; the server's
    CPU seconds on PostgreSQL (0 on SQLite)."""
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            with raw.driver_connection.cursor() as cur:
                before = _server_cpu(cur.execute("SELECT pg_backend_pid()").fetchone()[0])
                with cur.copy(f"COPY {TABLE} TO STDOUT") as copy:
                    for _block in copy:
                        pass
                return _server_cpu(cur.execute("SELECT pg_backend_pid()").fetchone()[0]) - before
        cur = raw.cursor()
        cur.execute(f"SELECT * FROM {TABLE}")
        while cur.fetchmany(50_000):
            pass
        return 0.0
    finally:
        raw.close()


def lines_only(engine) -> float:
    """PostgreSQL: every row's canonical line rendered and counted in the server (parallel
    workers allowed), nothing sorted, digested or sent: the floor of any hash over this
    canonical form. Returns the server's CPU seconds."""
    with engine.connect() as conn:
        cur = conn.connection.driver_connection.cursor()
        before = _server_cpu(cur.execute("SELECT pg_backend_pid()").fetchone()[0])
        cur.execute("SET DateStyle = 'ISO'")
        lines = hashing.line_sql(process_parameter, "postgresql")
        cur.execute(f"SELECT count(*) FROM ({lines}) AS l WHERE line IS NOT NULL").fetchone()
        return _server_cpu(cur.execute("SELECT pg_backend_pid()").fetchone()[0]) - before


def legacy_hash(engine, limit: int) -> str:
    """The previous `content_hash`: a multiset of per-row SHA-256 over Python-canonical JSON."""
    from migrate.model import ENTITIES, metadata

    entity, table = ENTITIES[TABLE], process_parameter
    by_fk = {r.fk_column: r for r in entity.references}
    columns, source = [], table
    for col in table.columns:
        if col.name in ("id", "created_at", "updated_at"):
            continue
        ref = by_fk.get(col.name)
        if ref is None:
            columns.append(col)
            continue
        parent = metadata.tables[ref.entity].alias(f"ref_{col.name}")
        source = source.outerjoin(parent, parent.c.id == col)
        columns.append(parent.c[ENTITIES[ref.entity].key_column])
    total = 0
    with engine.connect() as conn:
        result = conn.execute(select(*columns).select_from(source).limit(limit))
        for row in result:
            text = json.dumps([to_canonical(v) for v in row], ensure_ascii=False)
            total += int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
    return f"{total:x}"


def _proc_cpu(pid: int, children: bool = False) -> float:
    """CPU seconds (user + system) of a process on this machine, from /proc; with `children`,
    those of its children that have exited too (a parallel worker's, once it is reaped)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11 : 15 if children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def _server_cpu(backend: int) -> float:
    """CPU seconds of the whole PostgreSQL server the backend belongs to: the postmaster, its
    live children and those that exited (parallel workers). Exact on the bench's own cluster;
    on a shared server it counts the other sessions' work too."""
    postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    total = _proc_cpu(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster
            ):
                total += _proc_cpu(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):  # a process that ended meanwhile
            continue
    return total


def hashed(engine) -> tuple[str, float]:
    """The hash, and the CPU seconds the PostgreSQL server spent on it, backend and parallel
    workers (0 on SQLite: there the work is in this process and in its CPU time)."""
    with engine.connect() as conn:
        if engine.dialect.name != "postgresql":
            return connection_hash(conn, TABLE), 0.0
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        before = _server_cpu(pid)
        digest = connection_hash(conn, TABLE)
        return digest, _server_cpu(pid) - before


def measure(url: str, rows: int) -> None:
    engine = make_engine(url)
    kind = engine.dialect.name
    t_raw, c_raw, s_raw = timed(raw_read, engine)
    t_new, c_new, (digest, server) = timed(hashed, engine)
    if kind == "sqlite":
        t_one, c_one, (digest_one, _) = timed(one_connection, engine)
        print(
            f"{kind:10} {rows:>10,} rows | one connection {t_one:6.2f} s wall, CPU {c_one:5.2f} s"
            f" = {rows / t_one:>9,.0f} rows/s wall | content_hash below: {t_new / t_one:.2f}x its wall"
            f" | {digest_one[:12]} | load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    if kind == "postgresql":
        t_lines, _, s_lines = timed(lines_only, engine)
        print(
            f"{kind:10} {rows:>10,} rows | lines rendered in the server, no sort, no digest (the floor"
            f" of this canonical form): {t_lines:6.2f} s wall, {s_lines:5.2f} s server CPU ="
            f" {rows / t_lines:>9,.0f} rows/s | load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    sample = min(rows, LEGACY_ROWS)
    t_old, c_old, _ = timed(legacy_hash, engine, sample)
    t_old, c_old = t_old * rows / sample, c_old * rows / sample
    engine.dispose()
    print(
        f"{kind:10} {rows:>10,} rows | content_hash {t_new:6.2f} s wall, CPU {c_new:5.2f} s here"
        f" + {server:5.2f} s server = {rows / t_new:>9,.0f} rows/s wall, {rows / (c_new + server):>9,.0f} rows/CPU-s | raw read {t_raw:6.2f} s, CPU {c_raw:5.2f} + {s_raw:5.2f} s ({t_new / t_raw:.2f}x wall)"
        f" | previous {t_old:7.1f} s ({t_old / t_new:.1f}x slower) | {digest[:12]}"
        f" | load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--target", action="append", help="hash this loaded target (repeatable)")
    parser.add_argument("--pg", help="PostgreSQL server URL (default: a throwaway cluster)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    if args.target:
        for url in args.target:
            engine = make_engine(url)
            with engine.connect() as c:
                rows = c.exec_driver_sql(f"SELECT COUNT(*) FROM {TABLE}").scalar_one()
            engine.dispose()
            measure(url, rows)
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-hash-"))
    pg, cluster = args.pg, None
    if pg is None and args.only != "sqlite":
        from tests import pgserver

        cluster = Path(tempfile.mkdtemp(prefix="bench-hash-pg-"))
        pg = pgserver.start(cluster)
        pgserver.wait_ready(pg)
    try:
        store = build_store(work / "store.db", args.rows)
        for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
            url = fresh_target(kind, work, pg, f"hash_{kind[:2]}_{args.rows}")
            load(url, store, chunk_size=50_000)
            measure(url, args.rows)
    finally:
        if cluster is not None:
            from tests import pgserver

            pgserver.stop(cluster)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
