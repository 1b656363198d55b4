"""Run every benchmark in bench/ in turn (`make bench`); each prints its figures beside its baselines.

    python bench/run_all.py                    # each at its own default size (1M rows for most: long)
    python bench/run_all.py --quick            # each at a small size: about 10 minutes under load
    python bench/run_all.py --quick --only map extract

Every script in bench/ must be listed in QUICK below (the run refuses to start otherwise), so a
new benchmark is never left out of `make bench`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent

# each benchmark's arguments for --quick (its own flags; the comment says what runs)
QUICK: dict[str, tuple[str, ...]] = {
    "extract": ("--quick", "--rows", "10000"),  # xlsx, xlsb, ods 10k; csv, db 50k, 500k
    "extract_limits": ("--quick",),  # 100,001-row sheets on both paths; CSV 50,000 lines
    "map": ("--rows", "100000", "--small", "10000"),
    "load": ("--quick",),  # 20,000 and 100,000 rows, SQLite and PostgreSQL
    "reconcile": ("--rows", "100000"),
    "rollback": ("--quick",),
    "hash": ("--rows", "100000"),
    "points": ("--rows", "50000"),  # a throwaway PostgreSQL cluster
    "cutover": ("--rows", "20000"),
    "trace": ("--links", "100000"),
    "eta": ("--real", "5000"),  # the rehearsal and one real run at the demo's size
    "foreign_erp": ("--orders", "2000"),  # 200 and 2,000 orders
}


def benchmarks() -> list[str]:
    """The benchmark scripts in bench/, this one left out."""
    return sorted(p.stem for p in HERE.glob("*.py") if p.stem != Path(__file__).stem)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark at its small size (QUICK)")
    parser.add_argument("--only", nargs="+", choices=sorted(QUICK), help="run only these")
    args = parser.parse_args()
    unlisted = sorted(set(benchmarks()) - set(QUICK))
    if unlisted:
        print(f"bench/run_all.py: give {', '.join(unlisted)} a quick size in QUICK", file=sys.stderr)
        return 2
    failed = []
    for name in args.only or benchmarks():
        command = [sys.executable, str(HERE / f"{name}.py"), *(QUICK[name] if args.quick else ())]
        print(f"\n=== bench/{name}.py {' '.join(command[2:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(command).returncode
        print(f"=== bench/{name}.py: exit {code} in {time.perf_counter() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
