"""Benchmark `migrate rollback`: undo a whole process-parameter load, beside the load itself.

    python bench/rollback.py                 # 100,000 and 1,000,000 process parameters, SQLite and PostgreSQL
    python bench/rollback.py --quick         # 20,000 and 200,000
    python bench/rollback.py --pg URL        # use this PostgreSQL server instead of a throwaway one

For each size and backend: a first load (the baseline the rollback is measured against,
also the data being undone), then `readiness` (foreign-reference scan + a rehearsal that
is rolled back), `rehearse`, and `rollback run --to start` (chunked replay, archive of the
ledger, every table's content hash compared with the start point's). Then a delta (1%
changed, 0.2% deleted) is loaded and rolled back, to time the before-image path.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import build_store, fresh_target  # noqa: E402
from migrate.load import load  # noqa: E402
from migrate.rollback import readiness, record_point, rehearse, rollback  # noqa: E402
from migrate.urls import parse_url  # noqa: E402


def delta_store(store: str, work: Path, rows: int) -> str:
    """A copy of the store with 1% of values changed and 0.2% of rows gone."""
    src = Path(store.removeprefix("sqlite:///"))
    path = work / f"delta_{rows}.db"
    path.write_bytes(src.read_bytes())
    con = sqlite3.connect(path)
    with con:
        con.execute('UPDATE "map_process_parameter" SET "value" = \'0.000001\' WHERE "_row_id" % 100 = 7')
        con.execute('DELETE FROM "map_process_parameter" WHERE "_row_id" % 500 = 3')
    con.close()
    return f"sqlite:///{path}"


def timed(fn, *args, **kw) -> tuple[float, object]:
    started = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - started, out


def one(kind: str, rows: int, store: str, delta: str, work: Path, pg: str | None) -> dict:
    url = fresh_target(kind, work, pg, f"rb_{kind[:2]}_{rows}")
    target = parse_url(url)
    t_load, _ = timed(load, url, store, chunk_size=50_000)
    t_ready, report = timed(readiness, target, "start")
    t_rehearse, rehearsal = timed(rehearse, target, "start")
    t_back, result = timed(rollback, target, "start", chunk_size=1_000)
    assert report.ready and rehearsal.would_match and result.exact, (report.problems, result.differs)
    load(url, store, chunk_size=50_000)
    record_point(target, "loaded")
    t_delta, _ = timed(load, url, delta, chunk_size=50_000, delete_missing={"process_parameter"})
    t_delta_back, delta_result = timed(rollback, target, "loaded", chunk_size=1_000)
    assert delta_result.exact
    restored = sum(c["restored"] + c["reinserted"] for c in delta_result.rows.values())
    return {
        "backend": kind,
        "rows": rows,
        "load_s": t_load,
        "readiness_s": t_ready,
        "rehearse_s": t_rehearse,
        "rollback_s": t_back,
        "rollback_rows_per_s": rows / t_back,
        "delta_load_s": t_delta,
        "delta_rollback_s": t_delta_back,
        "delta_rows_restored": restored,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pg", help="PostgreSQL server URL (default: a throwaway cluster)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    sizes = (20_000, 200_000) if args.quick else (100_000, 1_000_000)
    work = Path(tempfile.mkdtemp(prefix="bench-rollback-"))
    pg, cluster = args.pg, None
    if pg is None and args.only != "sqlite":
        from tests import pgserver

        cluster = Path(tempfile.mkdtemp(prefix="bench-rollback-pg-"))
        pg = pgserver.start(cluster)
        pgserver.wait_ready(pg)
    try:
        for rows in sizes:
            store = build_store(work / f"store_{rows}.db", rows)
            delta = delta_store(store, work, rows)
            for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
                r = one(kind, rows, store, delta, work, pg)
                print(
                    f"{kind:10} {rows:>9,} rows: load {r['load_s']:6.1f} s | readiness {r['readiness_s']:6.1f} s"
                    f" | rehearse {r['rehearse_s']:6.1f} s | rollback {r['rollback_s']:6.1f} s"
                    f" ({r['rollback_rows_per_s']:,.0f} rows/s) | delta load {r['delta_load_s']:5.1f} s,"
                    f" its rollback {r['delta_rollback_s']:5.1f} s ({r['delta_rows_restored']:,} rows restored)",
                    flush=True,
                )
    finally:
        if cluster is not None:
            from tests import pgserver

            pgserver.stop(cluster)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
