"""Extract at the limits: a sheet at Excel's row limit and CSV line tracking.

    python bench/extract_limits.py
    python bench/extract_limits.py --quick    # the 100,001-row sheet and 50,000 CSV lines only

- xlsx with 1,048,576 rows (tests/extract/bigsheet.py) and one with 100,001 rows, extracted by
  `migrate.extract` on the default path (calamine) and on the streaming path (openpyxl,
  MIGRATE_XLSX_STREAM_BYTES=0); seconds and peak RSS, each in its own process.
- CSV 500,000 x 6 without and with quote characters (the latter pays for physical-line
  tracking across quoted line breaks): read_text seconds.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.extract.bigsheet import EXCEL_MAX_ROWS, write_full_sheet  # noqa: E402
from tests.treemem import run_measured  # noqa: E402

_RUN = """
import json, resource, sys, time
from migrate.extract import extract
from migrate.project import Project
started = time.perf_counter()
result = extract(Project(sys.argv[1])).sources[0]
print(json.dumps({"rows": result.rows, "reader": result.reader,
                  "seconds": round(time.perf_counter() - started, 1),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def xlsx_run(rows: int, stream: bool) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        started = time.perf_counter()
        write_full_sheet(root / "big.xlsx", rows=rows)
        written = round(time.perf_counter() - started, 1)
        (root / "project.yaml").write_text(
            "name: b\nsources:\n  big: {kind: xlsx, path: big.xlsx}\n", encoding="utf-8"
        )
        # the streaming path: no segments, every sheet streamed by openpyxl
        forced = {"MIGRATE_XLSX_STREAM_BYTES": "0", "MIGRATE_XLSX_SEGMENT_BYTES": str(1 << 50)}
        env = os.environ | (forced if stream else {})
        done, tree_mb = run_measured([sys.executable, "-c", _RUN, str(root)], env=env)
        assert done.returncode == 0, done.stderr
        return {"sheet_rows": rows, "write_s": written, **json.loads(done.stdout), "tree_mb": round(tree_mb)}


def csv_run(quoted: bool, rows: int = 500_000) -> dict:
    from migrate.extract.readers import text
    from migrate.project import SourceSpec

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "b.csv"
        with path.open("w", encoding="utf-8") as fh:
            fh.write('"编码",名称,a,b,c,d\n' if quoted else "编码,名称,a,b,c,d\n")
            fh.writelines(f"{i:08d},name{i},1.5,2,xx,yy\n" for i in range(rows))
        started = time.perf_counter()
        _, chunks, _, _ = text.read_text(
            path, "b.csv", SourceSpec(kind="csv", path="b.csv"), 50_000, Counter()
        )
        staged = sum(len(c) for c in chunks)
        return {"csv_rows": staged, "quoted": quoted, "seconds": round(time.perf_counter() - started, 2)}


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]  # a smoke run (bench/run_all.py --quick): the small sheet only
    sheets = (100_001,) if quick else (100_001, EXCEL_MAX_ROWS)
    for stream in (False, True):
        for rows in sheets:
            print(json.dumps(xlsx_run(rows, stream), ensure_ascii=False), flush=True)
    for quoted in (False, True):
        print(json.dumps(csv_run(quoted, 50_000 if quick else 500_000)), flush=True)
