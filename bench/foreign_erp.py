"""Benchmark: the foreign-ERP example end to end at two scales (the large variant of
tests/examples/test_foreign_erp.py), with no SQL query source and no project Python.

    .venv/bin/python bench/foreign_erp.py                  # 2,000 and 20,000 orders
    .venv/bin/python bench/foreign_erp.py --orders 5000     # 500 and 5,000

Each stage (`extract`, `map`, `load`) runs as its own `migrate` process on SQLite; printed:
rows mapped, seconds and peak RSS per stage, at a tenth of the scale and at the scale, and
the ratios. The joined and looked-up sides (work orders, headers, products) are held in
memory, so map's memory grows with them (a tenth of the ledger's rows), not with the ledger.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIGRATE = str(Path(sys.executable).with_name("migrate"))


def run_stage(root: Path, *args: str) -> tuple[float, int, dict]:
    """Seconds, peak RSS (MB) and JSON result of one `migrate` command."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", MIGRATE, "--project", str(root), "--json", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"migrate {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    peak = int(done.stderr.strip().splitlines()[-1]) // 1024
    return seconds, peak, json.loads(done.stdout) if done.stdout.strip() else {}


def one_scale(orders: int) -> dict:
    from migrate.factory.foreign import generate_foreign

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "foreign-erp"
        shutil.copytree(ROOT / "examples" / "foreign-erp", root)
        counts = generate_foreign(root / "data", orders=orders)
        run_stage(root, "db", "upgrade")
        figures = {"source_rows": sum(counts.values())}
        for stage in ("extract", "map", "load"):
            seconds, peak, result = run_stage(root, stage)
            figures[stage] = (seconds, peak)
            if stage == "map":
                every = result["entities"].values()
                figures["mapped"] = sum(e["mapped"] for e in every)
                figures["rejected"] = sum(e["rejected"] for e in every)
        return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    small, large = one_scale(args.orders // 10), one_scale(args.orders)
    for name, f in (("tenth", small), ("scale", large)):
        stages = ", ".join(f"{s} {f[s][0]:.1f} s {f[s][1]} MB" for s in ("extract", "map", "load"))
        rate = f["mapped"] / f["map"][0]
        print(
            f"{name}: {f['source_rows']:,} source rows, {f['mapped']:,} mapped ({rate:,.0f}/s map), rejected {f['rejected']}; {stages}"
        )
    for stage in ("extract", "map", "load"):
        print(
            f"{stage}: time x{large[stage][0] / small[stage][0]:.1f}, peak RSS x{large[stage][1] / small[stage][1]:.2f} for x10 rows"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
