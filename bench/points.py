"""Benchmark cutover points on PostgreSQL with kept table hashes (`migrate.load.hashcache`).

    python bench/points.py                    # 1,000,000 process parameters, a throwaway cluster
    python bench/points.py --rows 100000 --pg URL
    python bench/points.py --rows 10000000 --no-plain   # leave out the load without triggers

Loads the high-volume table into two fresh targets: one as alembic makes it (a statement
trigger on every model table notes writes) and one with those triggers dropped, so the
triggers' cost on the load is measured in the same run. On the first target it then times,
one after the other:

- every model table hashed, as each cutover point did before (the baseline);
- a point right after the load (every table written since its last hash: all hashed, kept);
- a point with nothing written since (every kept hash used);
- a point after a foreign session changed one process parameter (that table hashed again);
- a point after a foreign session changed one supplier (only that small table hashed again).

Wall seconds of this process, and the server's CPU seconds (it must run on this machine).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.load import build_store, fresh_target, postmaster_pid, server_cpu_s  # noqa: E402
from migrate.db import make_engine  # noqa: E402
from migrate.load import load  # noqa: E402
from migrate.load.hashing import connection_hash  # noqa: E402
from migrate.model import MODEL_TABLES  # noqa: E402
from migrate.rollback.points import record_point  # noqa: E402
from migrate.urls import parse_url  # noqa: E402


def point(url: str, name: str) -> None:
    record_point(parse_url(url), name, operator="bench")


def timed(server: int | None, fn, *args) -> tuple[float, float]:
    cpu, wall = server_cpu_s(server), time.perf_counter()
    fn(*args)
    return time.perf_counter() - wall, server_cpu_s(server) - cpu


def every_table(url: str) -> None:
    engine = make_engine(url)
    with engine.connect() as conn:
        for t in MODEL_TABLES:
            connection_hash(conn, t)
    engine.dispose()


def foreign_write(url: str, sql: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


def drop_triggers(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        for t in MODEL_TABLES:
            conn.execute(text(f'DROP TRIGGER migrate_note_write ON "{t.name}"'))
    engine.dispose()


def run(pg: str, work: Path, rows: int, plain: bool) -> list[tuple[str, float, float]]:
    store = build_store(work / "store.db", rows)
    url = fresh_target("postgresql", work, pg, f"points_{rows}")
    server = postmaster_pid(url)
    out = []
    if plain:
        untriggered = fresh_target("postgresql", work, pg, f"points_plain_{rows}")
        drop_triggers(untriggered)
        out.append(("load, no triggers", *timed(server, load, untriggered, store)))
    out += [
        ("load, with the triggers", *timed(server, load, url, store)),
        ("every table hashed (before)", *timed(server, every_table, url)),
        ("point after the load", *timed(server, point, url, "after-load")),
        ("point, nothing written", *timed(server, point, url, "unchanged")),
    ]
    foreign_write(url, "UPDATE process_parameter SET value = value + 1 WHERE id = 1")
    out.append(("point, 1 process parameter changed", *timed(server, point, url, "one-pp")))
    foreign_write(url, "UPDATE supplier SET name = name || '.' WHERE id = 1")
    out.append(("point, 1 supplier changed", *timed(server, point, url, "one-supplier")))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", help="PostgreSQL server URL (default: a throwaway cluster)")
    parser.add_argument("--no-plain", action="store_true", help="leave out the load without triggers")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-points-"))
    pg, cluster = args.pg, None
    if pg is None:
        from tests import pgserver

        cluster = Path(tempfile.mkdtemp(prefix="bench-points-pg-"))
        pg = pgserver.start(cluster)
        pgserver.wait_ready(pg)
    try:
        results = run(pg, work, args.rows, not args.no_plain)
    finally:
        if cluster is not None:
            from tests import pgserver

            pgserver.stop(cluster)
        shutil.rmtree(work, ignore_errors=True)  # the work store: ~1 GB at 10M rows
    print(f"{args.rows:,} process parameters on PostgreSQL")
    print(f"{'step':<38} {'wall s':>8} {'server CPU s':>13}")
    for name, wall, cpu in results:
        print(f"{name:<38} {wall:>8.2f} {cpu:>13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
