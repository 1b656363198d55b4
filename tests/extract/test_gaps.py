"""Extract's remaining correctness gaps (issue 3): xls hidden rows, CSV title rows,
a sheet at Excel's row limit, and concurrent extracts."""

from __future__ import annotations

import codecs
import json
import subprocess
import sys
import time

import pytest
from sqlalchemy import inspect

from migrate.errors import ConfigError
from migrate.extract import check_sources, extract
from migrate.extract.readers.biff import _xlrd_hidden_rows, xls_hidden_rows
from migrate.store import WorkStore
from tests.extract.bigsheet import EXCEL_MAX_ROWS, write_full_sheet
from tests.extract.helpers import make_project, staged
from tests.treemem import run_measured


def _xls_with_hidden_rows(path) -> None:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("批次")
    for c, name in enumerate(["批次号", "数量"]):
        ws.write(0, c, name)
    for r, (lot, qty) in enumerate([("L001", 5), ("L002", 6), ("L003", 7), ("L004", 8)], start=1):
        ws.write(r, 0, lot)
        ws.write(r, 1, qty)
    ws.row(2).hidden = True  # physical row 3: L002
    ws.row(4).hidden = True  # physical row 5: L004
    book.save(str(path))


def test_xls_hidden_rows_reported_and_left_out(tmp_path):
    _xls_with_hidden_rows(tmp_path / "lots.xls")
    project = make_project(tmp_path, {"lots": {"kind": "xls", "path": "lots.xls"}})
    result = extract(project).sources[0]
    rows = staged(project, "lots")
    assert [(r["_row"], r["批次号"]) for r in rows] == [(2, "L001"), (4, "L003")]
    assert result.skipped == {"hidden_row": 2}
    assert result.rows == 2


def test_xls_hidden_rows_included_on_request(tmp_path):
    _xls_with_hidden_rows(tmp_path / "lots.xls")
    project = make_project(tmp_path, {"lots": {"kind": "xls", "path": "lots.xls", "include_hidden": True}})
    result = extract(project).sources[0]
    assert [r["_row"] for r in staged(project, "lots")] == [2, 3, 4, 5]
    assert result.skipped == {}


def _write_text(path, body: str, encoding: str, bom: bytes = b"") -> None:
    path.write_bytes(bom + body.encode(encoding))


TITLED = (
    "库存报表{pad}\r\n"
    "导出时间: 2024-03-01 08:00{pad}\r\n"
    "{pad}\r\n"
    "物料编码{sep}批次号{sep}数量\r\n"
    "000123{sep}L001{sep}5.0\r\n"
    "{pad}\r\n"
    "000124{sep}L002{sep}NA\r\n"
)


@pytest.mark.parametrize(
    ("encoding", "bom", "sep", "padded"),
    [
        ("utf-8", b"", ",", False),
        ("gb18030", b"", ",", True),
        ("gb18030", b"", ",", False),
        ("utf-16-le", codecs.BOM_UTF16_LE, "\t", False),
        ("utf-16-be", codecs.BOM_UTF16_BE, ",", True),
    ],
)
def test_csv_title_lines_above_detected_header(tmp_path, encoding, bom, sep, padded):
    """Report name, export date and a blank line above the header: skipped with a reason,
    the header found as in workbooks, `_row` the physical line of each record."""
    body = TITLED.format(sep=sep, pad=sep * 2 if padded else "")
    _write_text(tmp_path / "stock.csv", body, encoding, bom)
    project = make_project(tmp_path, {"stock": {"kind": "csv", "path": "stock.csv"}})
    result = extract(project).sources[0]
    rows = staged(project, "stock")
    assert [(r["_row"], r["物料编码"], r["批次号"], r["数量"]) for r in rows] == [
        (5, "000123", "L001", "5.0"),
        (7, "000124", "L002", "NA"),
    ]
    assert result.skipped == {"above_header": 2, "empty_row": 1}


def test_csv_declared_header_row_counts_title_lines(tmp_path):
    _write_text(tmp_path / "t.csv", "质检记录导出\n\n导出时间 2024-03-01\n编码,结果\n1,合格\n", "gb18030")
    project = make_project(tmp_path, {"t": {"kind": "csv", "path": "t.csv", "header_row": 4}})
    result = extract(project).sources[0]
    assert [(r["_row"], r["编码"], r["结果"]) for r in staged(project, "t")] == [(5, "1", "合格")]
    assert result.skipped == {"above_header": 2}


def test_csv_row_is_the_physical_line_after_quoted_line_breaks(tmp_path):
    """A quoted multi-line header and remark span several lines; later records keep their line."""
    body = '标题\n"数量\n(kg)",备注\n1,"第一行\n第二行\n第三行"\n2,b\n\n3,"x\r\ny"\n4,z\n'
    _write_text(tmp_path / "q.csv", body, "utf-8")
    project = make_project(tmp_path, {"q": {"kind": "csv", "path": "q.csv", "chunk_size": 2}})
    result = extract(project).sources[0]
    rows = staged(project, "q")
    assert [(r["_row"], r["数量 (kg)"], r["备注"]) for r in rows] == [
        (4, "1", "第一行\n第二行\n第三行"),
        (7, "2", "b"),
        (9, "3", "x\r\ny"),
        (11, "4", "z"),
    ]
    assert result.skipped == {"above_header": 1, "empty_row": 1}


# the whole extract of the 1,048,576-row sheet, in a fresh process so its peak memory is its own
# (and its workers', measured as the process tree's)
_EXTRACT_AND_MEASURE = """
import json, resource, sys
from migrate.errors import ConfigError
from migrate.extract import check_sources, extract
from migrate.extract.readers.biff import _xlrd_hidden_rows, xls_hidden_rows
from migrate.project import Project
result = extract(Project(sys.argv[1])).sources[0]
print(json.dumps({"rows": result.rows, "reader": result.reader, "run_id": result.run_id,
                  "sheets": result.sheets,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""
PEAK_RSS_MB = 512  # RELIABILITY T4's bound for hostile files, held by a legitimate full sheet too


def test_sheet_at_excel_row_limit_exact_count_and_last_row_lineage(tmp_path):
    """RELIABILITY T4: a real xlsx with 1,048,576 rows (header + 1,048,575 data rows)."""
    write_full_sheet(tmp_path / "big.xlsx")
    project = make_project(tmp_path, {"big": {"kind": "xlsx", "path": "big.xlsx"}})
    done, tree_mb = run_measured([sys.executable, "-c", _EXTRACT_AND_MEASURE, str(tmp_path)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["rows"] == EXCEL_MAX_ROWS - 1
    assert report["sheets"] == {"流水": EXCEL_MAX_ROWS - 1}
    assert report["reader"] == "fastexcel-segments"  # parsed in parallel, in bounded memory
    assert report["rss_mb"] < PEAK_RSS_MB and tree_mb < PEAK_RSS_MB, (report, tree_mb)
    store = WorkStore(project.staging_url)
    try:
        with store.engine.connect() as c:
            count = c.exec_driver_sql('SELECT count(*), max("_row") FROM "stg_big"').one()
            edges = c.exec_driver_sql(
                'SELECT "_source", "_file", "_sheet", "_row", "_run", "编号", "数量" FROM "stg_big" '
                'WHERE "_row_id" IN ((SELECT min("_row_id") FROM "stg_big"), (SELECT max("_row_id") FROM "stg_big")) '
                'ORDER BY "_row_id"'
            ).all()
    finally:
        store.dispose()
    assert tuple(count) == (EXCEL_MAX_ROWS - 1, EXCEL_MAX_ROWS)
    run = report["run_id"]
    assert [tuple(r) for r in edges] == [
        ("big", "big.xlsx", "流水", 2, run, "C0000002", "1"),
        ("big", "big.xlsx", "流水", EXCEL_MAX_ROWS, run, f"C{EXCEL_MAX_ROWS}", str(EXCEL_MAX_ROWS // 2)),
    ]


CONCURRENT_ROWS = 120_000


def _big_csv(path, rows: int = CONCURRENT_ROWS) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("编码,名称,数量\n")
        fh.writelines(f"{i:07d},item {i},{i % 97}.5\n" for i in range(rows))


def _start_extract(root, *names: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "migrate", "--project", str(root), "--json", "extract", *names],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _staged_state(project) -> tuple[dict, list, list]:
    """(rows per staged source, leftover side tables, statuses of the runs)."""
    store = WorkStore(project.staging_url)
    try:
        tables = inspect(store.engine).get_table_names()
        with store.engine.connect() as c:
            counts = {
                t: c.exec_driver_sql(f'SELECT count(*), count(DISTINCT "_row") FROM "{t}"').one()
                for t in tables
                if t.startswith("stg_") and t not in ("stg_runs", "stg_columns") and not t.startswith("stg__")
            }
            runs = c.exec_driver_sql('SELECT "source", "status" FROM "stg_runs" ORDER BY "run_id"').all()
    finally:
        store.dispose()
    return {t: tuple(v) for t, v in counts.items()}, [t for t in tables if t.startswith("stg__new_")], runs


_CATALOGUE = (
    "import sys, time\n"
    "from migrate.extract.stage import _work_store\n"
    "from migrate.extract.staging import ensure_catalog\n"
    "store = _work_store(sys.argv[1])  # as extract opens it\n"
    "while time.time() < float(sys.argv[2]):\n    pass\n"
    "ensure_catalog(store)\n"
)


def test_extracts_starting_together_create_the_catalogue_once(tmp_path, target_url):
    """Six processes create the catalogue of a fresh work store at the same instant: all succeed
    (create-if-missing was a check then a create: one of two extracts started together failed)."""
    start = time.time() + 3
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _CATALOGUE, target_url, str(start)], stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    failures = [p.stderr.read()[-500:] for p in runs if p.wait(timeout=60) != 0]
    assert failures == []


def test_concurrent_extracts_of_different_sources_both_succeed(tmp_path, target_url):
    for name in ("a", "b"):
        _big_csv(tmp_path / f"{name}.csv")
    sources = {n: {"kind": "csv", "path": f"{n}.csv", "chunk_size": 5000} for n in ("a", "b")}
    project = make_project(tmp_path, sources, staging=target_url)
    first, second = _start_extract(tmp_path, "a"), _start_extract(tmp_path, "b")
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in (first, second)]
    for code, out, err in outcomes:
        assert code == 0, out + err
    counts, leftovers, runs = _staged_state(project)
    assert counts == {"stg_a": (CONCURRENT_ROWS,) * 2, "stg_b": (CONCURRENT_ROWS,) * 2}
    assert leftovers == []
    assert sorted(runs) == [("a", "ok"), ("b", "ok")]


def test_concurrent_extracts_of_one_source_leave_one_complete_table(tmp_path, target_url):
    _big_csv(tmp_path / "a.csv")
    project = make_project(
        tmp_path, {"a": {"kind": "csv", "path": "a.csv", "chunk_size": 5000}}, staging=target_url
    )
    first, second = _start_extract(tmp_path, "a"), _start_extract(tmp_path, "a")
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in (first, second)]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes in ([0, 0], [0, 1]), outcomes
    for code, out, err in outcomes:
        if code:  # refused: one clear paragraph naming the source and the run holding it
            assert "source a is being extracted by another run" in out + err, out + err
            assert "Traceback" not in out + err
    counts, leftovers, runs = _staged_state(project)
    assert counts == {"stg_a": (CONCURRENT_ROWS,) * 2}
    assert leftovers == []
    assert ("a", "ok") in runs and ("a", "running") not in runs


# a real process holding source a's claim until killed
_HOLD_CLAIM = """
import sys, time
from migrate.extract.claim import SourceClaim
from migrate.store import WorkStore
claim = SourceClaim(WorkStore(sys.argv[1]), "a").__enter__()
print("held", flush=True)
time.sleep(600)
"""


def test_extract_refused_while_another_process_holds_the_source_then_after_kill_9(tmp_path, target_url):
    (tmp_path / "a.csv").write_text("编码\n001\n002\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("编码\n003\n", encoding="utf-8")
    sources = {n: {"kind": "csv", "path": f"{n}.csv"} for n in ("a", "b")}
    project = make_project(tmp_path, sources, staging=target_url)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_CLAIM, target_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        refused = _start_extract(tmp_path, "a")
        out, err = refused.communicate(timeout=60)
        assert refused.returncode == 1, out + err
        assert f"source a is being extracted by another run: pid {holder.pid} on host" in err
        assert "Traceback" not in out + err
        other = _start_extract(tmp_path, "b")  # another source is not held up
        assert other.wait(timeout=60) == 0, other.communicate()
        assert time.monotonic() - started < 30
    finally:
        holder.kill()  # kill -9: no release, the claim must free itself
        holder.wait()
    after = _start_extract(tmp_path, "a")
    out, err = after.communicate(timeout=60)
    assert after.returncode == 0, out + err
    assert [r["编码"] for r in staged(project, "a")] == ["001", "002"]


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        ("Name;City;Note\nCafé;Müller;naïve\nJosé;Zürich;€ 12,50\n", "cp1252"),
        ("code,name\n1,Société Générale\n2,Crème brûlée façade\n3,Ærø Ångström\n", "cp1252"),
        ("a,b\n1,Zażółć gęślą jaźń\n", "cp1250"),  # Central European text cp1252 cannot explain
        ("id,name\n1,Иванов Пётр\n2,Сидоров\n", "cp1251"),
    ],
)
def test_single_byte_code_pages_detected_without_declaration(tmp_path, body, encoding):
    """Western Excel exports (cp1252) were read as cp775 / cp1250: Café became Cafķ."""
    (tmp_path / "w.csv").write_bytes(body.encode(encoding))
    project = make_project(tmp_path, {"w": {"kind": "csv", "path": "w.csv"}})
    result = extract(project).sources[0]
    assert f"({encoding}," in result.reader
    lines = body.splitlines()
    sep = ";" if ";" in lines[0] else ","
    assert [list(r.values())[-len(lines[1].split(sep)) :] for r in staged(project, "w")] == [
        line.split(sep) for line in lines[1:]
    ]


@pytest.mark.parametrize("name", ["runs", "columns"])
def test_source_named_like_the_catalogue_is_refused_before_staging(tmp_path, name):
    """stg_runs / stg_columns are extract's catalogue: a source `runs` would stage over it."""
    (tmp_path / "r.csv").write_text("a\n1\n", encoding="utf-8")
    project = make_project(tmp_path, {name: {"kind": "csv", "path": "r.csv"}})
    with pytest.raises(ConfigError, match=f"source name '{name}' is reserved") as info:
        extract(project)
    assert info.value.exit_code == 2 and info.value.key == f"sources.{name}"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("body", ["code,name\n001,screw\n002,Nut\n", "编码,名称\n001,螺丝\n002,Nut\n"])
def test_utf16_without_bom_detected(tmp_path, encoding, body):
    """Latin text in UTF-16 without a BOM decodes as 'UTF-8' full of NULs; it must not."""
    (tmp_path / "u.csv").write_bytes(body.encode(encoding))
    project = make_project(tmp_path, {"u": {"kind": "csv", "path": "u.csv"}})
    extract(project)
    lines = [line.split(",") for line in body.splitlines()]
    assert [[r[h] for h in lines[0]] for r in staged(project, "u")] == lines[1:]


def test_sources_check_finds_the_header_under_title_lines(tmp_path):
    body = TITLED.format(sep=",", pad="")
    _write_text(tmp_path / "stock.csv", body, "gb18030")
    project = make_project(tmp_path, {"stock": {"kind": "csv", "path": "stock.csv"}})
    (check,) = check_sources(project, {"stock": {"物料编码", "数量", "库位"}}).sources
    assert check.columns == ("物料编码", "批次号", "数量")
    assert check.missing_columns == ("库位",)


def test_xls_hidden_rows_per_sheet_match_xlrd(tmp_path):
    """The BIFF ROW-record scan finds each sheet's own hidden rows (sheet offsets from the
    BOUNDSHEET records, Chinese names), the same set xlrd's slow formatting pass reports."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    expected = {}
    for n, name in enumerate(["一月", "二月", "三月"]):
        ws = book.add_sheet(name)
        ws.write(0, 0, "批次号")
        for r in range(1, 300):
            ws.write(r, 0, f"{name}-{r}")
            if r % (5 + n) == 2:
                ws.row(r).hidden = True
        expected[name] = {r + 1 for r in range(1, 300) if r % (5 + n) == 2}
    book.save(str(tmp_path / "m.xls"))
    for name, rows in expected.items():
        assert (
            xls_hidden_rows(tmp_path / "m.xls", name) == rows == _xlrd_hidden_rows(tmp_path / "m.xls", name)
        )
    project = make_project(tmp_path, {"m": {"kind": "xls", "path": "m.xls"}})
    result = extract(project).sources[0]
    assert result.skipped == {"hidden_row": sum(map(len, expected.values()))}
    assert result.rows == 3 * 299 - result.skipped["hidden_row"]
