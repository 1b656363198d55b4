"""`make bench` (bench/run_all.py) runs every benchmark in bench/, and its quick sizes use flags
each script has."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _run_all():
    spec = importlib.util.spec_from_file_location("bench_run_all", BENCH / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_has_a_quick_size_with_flags_it_takes():
    run_all = _run_all()
    scripts = {p.stem for p in BENCH.glob("*.py")} - {"run_all"}
    assert set(run_all.benchmarks()) == scripts == set(run_all.QUICK)
    for name, args in run_all.QUICK.items():
        source = (BENCH / f"{name}.py").read_text(encoding="utf-8")
        for flag in (a for a in args if a.startswith("--")):
            assert re.search(rf"[\"']{flag}[\"']", source), f"bench/{name}.py takes no {flag}"


def test_a_benchmark_left_out_of_quick_stops_the_run_before_it_starts(tmp_path):
    (tmp_path / "run_all.py").write_text((BENCH / "run_all.py").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "new_stage.py").write_text("raise SystemExit(3)\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(tmp_path / "run_all.py"), "--quick"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "give new_stage a quick size" in done.stderr
    assert "===" not in done.stdout  # nothing ran
