"""Run every stage benchmark in turn (`make bench`); each prints its figures beside its baselines.

Extra arguments are passed to every benchmark, e.g. `python bench/run_all.py --quick`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

STAGES = ("extract", "map", "load", "reconcile")


def main() -> int:
    here = Path(__file__).parent
    failed = []
    for stage in STAGES:
        script = here / f"{stage}.py"
        if not script.exists():
            continue
        print(f"\n=== bench/{script.name} ===", flush=True)
        if subprocess.run([sys.executable, str(script), *sys.argv[1:]]).returncode != 0:
            failed.append(stage)
    if failed:
        print(f"\nbenchmarks failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
