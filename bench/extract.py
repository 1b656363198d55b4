"""Extract benchmark: our extract beside the raw readers, rows/s and peak RSS, same run.

    python bench/extract.py            # 1,000,000-row x 12-column xlsx; 500k and 5M-row CSV and DB table
    python bench/extract.py --only xlsx --rows 100000   # one xlsx size (and a tenth of it)
    python bench/extract.py --only xlsx --stream        # also openpyxl read-only, our streaming path (minutes)
    python bench/extract.py --quick    # 100k xlsx; 50k and 500k CSV/DB (a smoke run)
    python bench/extract.py --only xlsb   # 100k-row .xlsb (also --only ods), beside python-calamine

Every measurement runs in its own process so its peak memory is its own: the larger of the
process's exact peak RSS and the sampled peak PSS of its process tree (our segmented xlsx read
parses in worker processes and stages through an ingest process: they count). Baselines: fastexcel
(Rust, Arrow), python-calamine (Rust, Python values), openpyxl read-only, pandas.read_excel
default (openpyxl engine; on a 100k-row slice, it takes minutes at 1M), pandas.read_csv,
sqlite3 fetchall. Goals (issue 3): xlsx extract >= 0.8x the fastest raw reader's rows/s;
CSV and DB extract peak RSS at 5M rows <= 1.2x at 500k (and xlsx, RELIABILITY T4: at 1M <= 1.2x
at 100k).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import sqlite3
import sys
import time
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "extract"
COLUMNS = [
    "批号",
    "物料编码",
    "物料名称",
    "供应商编码",
    "数量",
    "单位",
    "生产日期",
    "入库日期",
    "状态",
    "仓库",
    "单价",
    "备注",
]


def _row(i: int, rng: random.Random) -> list:
    return [
        f"L{i:08d}",
        f"{rng.randrange(100000):06d}",  # leading zeros
        rng.choice(["六角螺栓 M8", "垫片", "轴承 6204", "润滑脂", "包装箱"]),
        f"S{rng.randrange(500):04d}",
        round(rng.uniform(1, 5000), 3),
        rng.choice(["个", "kg", "箱", "PCS"]),
        45292 + rng.randrange(365),  # an Excel serial date (cell formatted as a date)
        45292 + rng.randrange(365),
        rng.choice(["合格", "待检", "NA"]),
        rng.choice(["WH01", "WH02", "原料库"]),
        round(rng.uniform(0.1, 99), 2),
        rng.choice(["", "", "加急", "N/A"]),
    ]


# ----------------------------------------------------------------- generators


def write_xlsx(path: Path, rows: int) -> None:
    """A plain workbook written part by part (openpyxl would take minutes at 1M rows)."""
    rng = random.Random(1)
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="批次" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>',
        "xl/styles.xml": _styles(),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            )
            fh.write(_xml_row(1, COLUMNS))
            for i in range(2, rows + 2):
                fh.write(_xml_row(i, _row(i, rng)))
            fh.write(b"</sheetData></worksheet>")


def _styles() -> str:
    """openpyxl's own styles part with one date format (cell style 1), so every reader accepts it."""
    import datetime
    import io

    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"] = datetime.date(2024, 1, 1)
    buffer = io.BytesIO()
    wb.save(buffer)
    with zipfile.ZipFile(buffer) as zf:
        styles = zf.read("xl/styles.xml").decode()
    assert 'formatCode="yyyy-mm-dd"' in styles  # cellXfs index 1
    return styles


def _xml_row(r: int, values: list) -> bytes:
    cells = []
    for c, v in enumerate(values):
        ref = f"{chr(65 + c)}{r}"
        if isinstance(v, str):
            if v:
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(v)}</t></is></c>')
        elif c in (6, 7):
            cells.append(f'<c r="{ref}" s="1"><v>{v}</v></c>')
        else:
            cells.append(f'<c r="{ref}"><v>{v}</v></c>')
    return f'<row r="{r}">{"".join(cells)}</row>'.encode()


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(2)
    with path.open("w", encoding="gb18030", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for i in range(rows):
            writer.writerow(_row(i, rng))


def write_db(path: Path, rows: int) -> None:
    rng = random.Random(3)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as c:
        cols = ", ".join(f'"c{i}" TEXT' for i in range(1, len(COLUMNS)))
        c.execute(f"CREATE TABLE lots (id INTEGER PRIMARY KEY, {cols})")
        marks = ", ".join("?" * len(COLUMNS))
        batch = []
        for i in range(rows):
            batch.append((i + 1, *_row(i, rng)[1:]))
            if len(batch) == 50_000:
                c.executemany(f"INSERT INTO lots VALUES ({marks})", batch)
                batch = []
        c.executemany(f"INSERT INTO lots VALUES ({marks})", batch)


# ----------------------------------------------------------------- measurements (one per process)


def measure(kind: str, path: str, extra: str) -> dict:
    if kind == "ours":
        from migrate.extract import extract  # noqa: F401 - import time is not extract time (the readers import theirs too); the name loads the stage module, which `import migrate.extract` alone does not
    started = time.perf_counter()
    rows = RUNNERS[kind](Path(path), extra)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "kind": kind,
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "peak_mb": round(peak_mb),
    }


def _fastexcel(path: Path, _):
    import fastexcel

    return fastexcel.read_excel(str(path)).load_sheet(0).to_arrow().num_rows


def _calamine(path: Path, _):
    import python_calamine

    sheet = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    return sum(1 for _ in sheet.iter_rows()) - 1


def _openpyxl(path: Path, _):
    import openpyxl

    ws = openpyxl.load_workbook(path, read_only=True, data_only=True).worksheets[0]
    return sum(1 for _ in ws.iter_rows(values_only=True)) - 1


def _pandas_excel(path: Path, extra):
    import pandas as pd

    return len(pd.read_excel(path, nrows=int(extra) if extra else None))


def _pandas_csv(path: Path, _):
    import pandas as pd

    return sum(len(f) for f in pd.read_csv(path, encoding="gb18030", dtype=str, chunksize=100_000))


def _sqlite_fetch(path: Path, _):
    with sqlite3.connect(path) as c:
        cur = c.execute("SELECT * FROM lots ORDER BY id")
        n = 0
        while rows := cur.fetchmany(10_000):
            n += len(rows)
    return n


def _ours(path: Path, extra):

    import yaml

    from migrate.extract import extract
    from migrate.project import Project

    kind, stream = (extra.split(":") + [""])[:2]
    if stream:  # the openpyxl streaming path: no segments, every sheet streamed
        from migrate.extract.readers import segments, workbook

        workbook.STREAM_BYTES = int(stream)
        segments.SEGMENT_BYTES = 1 << 50
    work = path.parent / f"project-{path.stem}-{stream or 'default'}"
    work.mkdir(exist_ok=True)
    (work / ".migrate" / "staging.db").unlink(missing_ok=True)
    spec = (
        {"kind": kind, "path": str(path)}
        if kind != "sql"
        else {"kind": "sql", "url": f"sqlite:///{path}", "table": "lots"}
    )
    (work / "project.yaml").write_text(
        yaml.safe_dump({"name": "bench", "sources": {"src": spec}}), encoding="utf-8"
    )
    result = extract(Project(work), force=True).sources[0]
    return result.rows


RUNNERS = {
    "fastexcel": _fastexcel,
    "python-calamine": _calamine,
    "openpyxl read-only": _openpyxl,
    "pandas.read_excel": _pandas_excel,
    "pandas.read_csv (chunks)": _pandas_csv,
    "sqlite3 fetchmany": _sqlite_fetch,
    "ours": _ours,
}


def run(kind: str, path: Path, extra: str = "") -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.treemem import run_measured

    # sampled every 100 ms: reading the processes' memory maps more often slows what is measured
    proc, tree_mb = run_measured(
        [sys.executable, __file__, "_measure", kind, str(path), extra], interval=0.1, cwd=ROOT
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_mb"] = max(result["peak_mb"], round(tree_mb))
    label = f"{kind} [{extra}]" if extra else kind
    print(
        f"  {label:<44} {result['rows']:>10,} rows {result['seconds']:>8.2f} s {result['rows_per_s']:>10,} rows/s {result['peak_mb']:>7,} MB",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["xlsx", "csv", "db", "xlsb", "ods"])
    parser.add_argument("--rows", type=int, help="xlsx rows (default 1,000,000; 100,000 with --quick)")
    parser.add_argument(
        "--stream", action="store_true", help="also openpyxl read-only and our streaming path (minutes)"
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    xlsx_rows = args.rows or (100_000 if args.quick else 1_000_000)
    small, big = (50_000, 500_000) if args.quick else (500_000, 5_000_000)
    results: dict = {}
    if args.only in (None, "xlsx"):
        results["xlsx"] = bench_xlsx(xlsx_rows, args.stream)
    if args.only in (None, "csv"):
        results["csv"] = bench_scaling("csv", small, big)
    if args.only in (None, "db"):
        results["db"] = bench_scaling("sql", small, big)
    for kind in ("xlsb", "ods"):
        if args.only in (None, kind):
            results[kind] = bench_calamine_kind(kind, args.rows or (20_000 if args.quick else 100_000))
    (OUT / "results.json").write_text(json.dumps(results, indent=2))


def bench_xlsx(rows: int, stream: bool) -> dict:
    path = _xlsx(rows)
    print(
        f"load average {os.getloadavg()[0]:.1f}; xlsx: {rows:,} rows x 12 columns, {path.stat().st_size / 1e6:.0f} MB file"
    )
    out = {name: run(name, path) for name in ("fastexcel", "python-calamine")}
    out["ours"] = run("ours", path, "xlsx")
    fastest = max(out["fastexcel"]["rows_per_s"], out["python-calamine"]["rows_per_s"])
    ratio = out["ours"]["rows_per_s"] / fastest
    print(f"  ours / fastest raw reader = {ratio:.2f}x (goal >= 0.8x)", flush=True)
    out["ratio"] = round(ratio, 2)
    small = _xlsx(rows // 10)
    print(f"xlsx: {rows // 10:,} rows, for memory growth")
    out["ours (a tenth of the rows)"] = run("ours", small, "xlsx")
    growth = out["ours"]["peak_mb"] / out["ours (a tenth of the rows)"]["peak_mb"]
    print(
        f"  ours peak memory at {rows:,} / at {rows // 10:,} rows = {growth:.2f}x (goal <= 1.2x)", flush=True
    )
    out["growth"] = round(growth, 2)
    out["pandas.read_excel (100k-row slice)"] = run("pandas.read_excel", path, str(min(rows, 100_000)))
    if stream:  # about 200 s each at 1M rows
        out["openpyxl read-only"] = run("openpyxl read-only", path)
        out["ours (openpyxl streaming path)"] = run("ours", path, "xlsx:0")
    return out


def bench_calamine_kind(kind: str, rows: int) -> dict:
    """.xlsb / .ods: both read cell by cell through python-calamine, so that is the baseline."""
    path = OUT / f"lots-{rows}.{kind}"
    if not path.exists():
        write_other(path, kind, rows)
    print(
        f"load average {os.getloadavg()[0]:.1f}; {kind}: {rows:,} rows x 12 columns, {path.stat().st_size / 1e6:.1f} MB file"
    )
    out = {"python-calamine": run("python-calamine", path), "ours": run("ours", path, kind)}
    ratio = out["ours"]["rows_per_s"] / out["python-calamine"]["rows_per_s"]
    print(f"  ours / python-calamine = {ratio:.2f}x", flush=True)
    out["ratio"] = round(ratio, 2)
    return out


def write_other(path: Path, kind: str, rows: int) -> None:
    """The xlsx bench's rows as .xlsb (pyxlsbwriter) or .ods (pandas' odf engine; slow to write)."""
    rng = random.Random(7)
    data = [_row(i, rng) for i in range(rows)]
    if kind == "xlsb":
        from pyxlsbwriter import XlsbWriter

        with XlsbWriter(str(path)) as writer:
            writer.add_sheet("lots")
            writer.write_sheet([COLUMNS, *data])
    else:
        import pandas as pd

        pd.DataFrame(data, columns=COLUMNS).to_excel(path, engine="odf", index=False, sheet_name="lots")


def _xlsx(rows: int) -> Path:
    path = OUT / f"lots-{rows}.xlsx"
    if not path.exists():
        write_xlsx(path, rows)
    return path


def bench_scaling(kind: str, small: int, big: int) -> dict:
    out = {}
    for rows in (small, big):
        path = OUT / (f"lots-{rows}.csv" if kind == "csv" else f"lots-{rows}.db")
        if not path.exists():
            (write_csv if kind == "csv" else write_db)(path, rows)
        print(f"{kind}: {rows:,} rows x 12 columns")
        baseline = "pandas.read_csv (chunks)" if kind == "csv" else "sqlite3 fetchmany"
        out[rows] = {"baseline": run(baseline, path), "ours": run("ours", path, kind)}
    growth = out[big]["ours"]["peak_mb"] / out[small]["ours"]["peak_mb"]
    print(f"  {kind} peak RSS at {big:,} / at {small:,} rows = {growth:.2f}x (goal <= 1.2x)")
    out["growth"] = round(growth, 2)
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_measure":
        print(json.dumps(measure(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "")))
    else:
        main()
