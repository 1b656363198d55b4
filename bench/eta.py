"""Benchmark the go-live ETA: a rehearsal's timings, scaled to the sources' sizes, against the
real run of the same phases on the same machine.

    python bench/eta.py                          # rehearse at 5,000 rows; real runs at 5,000 and 50,000
    python bench/eta.py --rehearse 5000 --real 5000 20000 100000

For each real size: the legacy factory is generated afresh at that size, the ETA is taken
from the rehearsal recorded at the first size (scaled by the new files' bytes and tables'
rows), then the phases run for real on a fresh target (`phase run` + `phase approve`, as
`migrate demo` runs them), each phase timed. Manual steps are left out of both sides.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from migrate import db, demo_signing, factory  # noqa: E402
from migrate import phase as phases  # noqa: E402
from migrate.db import make_engine  # noqa: E402
from migrate.demo import run_demo  # noqa: E402
from migrate.project import Project  # noqa: E402
from migrate.rehearsal.eta import estimate  # noqa: E402
from migrate.rehearsal.run import run_rehearsal  # noqa: E402


def real_run(project: Project) -> dict[str, float]:
    """Every phase run and approved on a fresh target and work store, as the demo does; seconds per phase."""
    for name in ("target.db", "staging.db"):
        for path in project.work_dir.glob(f"{name}*"):
            path.unlink()
    engine = make_engine(project.target_url)
    db.upgrade(engine)
    engine.dispose()
    seconds = {}
    for phase in project.plan.phases:
        start = time.perf_counter()
        phases.run(project, phase.name, operator="bench")
        if phase.signatures:  # the demo's last phase: signed as the demo signs it
            demo_signing.sign_phase(project, phase.name)
        phases.approve(project, phase.name, operator="bench")
        seconds[phase.name] = time.perf_counter() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rehearse", type=int, default=5000, help="process-parameter rows of the rehearsal")
    parser.add_argument("--real", type=int, nargs="+", default=[5000, 50000], help="rows of each real run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-eta-"))
    try:
        root = work / "project"
        run_demo(root, rows=args.rehearse, operator="bench")
        project = Project(root)
        rehearsal, _ = run_rehearsal(project, "bench", operator="bench")
        print(
            f"rehearsal at {args.rehearse:,} rows: {rehearsal.seconds:.1f} s  (load average {os.getloadavg()[0]:.1f})"
        )
        print(f"{'rows':>9} {'phase':<20} {'ETA s':>8} {'real s':>8} {'real/ETA':>9}")
        for rows in args.real:
            shutil.rmtree(root / "fixtures")
            factory.generate(root / "fixtures", seed=7, scale=rows)
            eta = estimate(project, rehearsal)
            actual = real_run(project)
            for p in eta.phases:
                ratio = actual[p.phase] / p.automatic_seconds
                print(
                    f"{rows:>9,} {p.phase:<20} {p.automatic_seconds:>8.1f} {actual[p.phase]:>8.1f} {ratio:>9.2f}"
                )
            total = sum(actual.values())
            print(
                f"{rows:>9,} {'whole cutover':<20} {eta.automatic_seconds:>8.1f} {total:>8.1f} "
                f"{total / eta.automatic_seconds:>9.2f}   (load average {os.getloadavg()[0]:.1f})"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
