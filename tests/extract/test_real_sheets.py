"""Issue 17: spreadsheets as factories keep them. One small workbook per class of harm, written
by real libraries (openpyxl, xlwt) or, for XML other writers produce (namespace prefixes,
LibreOffice's attribute order, untrimmed text), part by part with zipfile; each staged as its
reference reader (calamine, xlrd) sees it, with merged and hidden cells reported."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
import python_calamine as calamine

from migrate.errors import SourceError
from migrate.extract import extract
from migrate.project import Project
from tests.extract import segment_books as sb
from tests.extract.helpers import make_project, staged


def _run(tmp_path: Path, spec: dict):
    project = make_project(tmp_path, {"s": spec})
    result = extract(project, force=True).sources[0]
    rows = [
        {k: v for k, v in r.items() if k not in ("_source", "_file", "_run", "_row_id")}
        for r in staged(project, "s")
    ]
    return result, rows


def _banner_book(path: Path) -> None:
    """A one-cell title banner merged over the table, then a value merged over three data rows."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws.append(["2024年 销售报表"])
    ws.merge_cells("A1:D1")
    ws.append(["月份", "金额", "批次", "备注"])
    ws.append(["一月", "R$ 12,6 M", "L1", None])
    ws.append([None, None, "L2", None])
    ws.append([None, None, "L3", "x"])
    ws.merge_cells("A3:A5")
    ws.merge_cells("B3:B5")
    wb.save(path)


# ---------------------------------------------------------------- 1-3: merges and headers


def test_merged_value_stays_in_its_top_left_cell_and_is_reported(tmp_path):
    _banner_book(tmp_path / "m.xlsx")
    result, rows = _run(tmp_path, {"kind": "xlsx", "path": "m.xlsx"})
    assert [(r["_row"], r["金额"], r["批次"]) for r in rows] == [
        (3, "R$ 12,6 M", "L1"),
        (4, None, "L2"),
        (5, None, "L3"),
    ]
    assert result.skipped == {"above_header": 1}
    assert any(
        "merged cells B3:B5, A3:A5: the value is staged in the top-left cell only" in w
        for w in result.warnings
    )


def test_fill_merged_is_declared_and_the_filled_ranges_named(tmp_path):
    _banner_book(tmp_path / "m.xlsx")
    result, rows = _run(tmp_path, {"kind": "xlsx", "path": "m.xlsx", "fill_merged": True})
    assert [r["金额"] for r in rows] == ["R$ 12,6 M"] * 3
    assert any("B3:B5, A3:A5 filled from their top-left cell" in w for w in result.warnings)


def test_header_is_chosen_on_real_cells_not_a_merged_banner(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws.append(["华东区 库存报表"])
    ws.merge_cells("A1:E1")
    ws.append(["物料", "批次", "数量", "单位", "仓库"])
    ws.append(["M1", "L1", 5, "kg", "W1"])
    wb.save(tmp_path / "b.xlsx")
    result, rows = _run(tmp_path, {"kind": "xlsx", "path": "b.xlsx"})
    assert [(r["_row"], r["物料"], r["数量"]) for r in rows] == [(3, "M1", "5")]
    assert result.skipped == {"above_header": 1}


def test_a_header_repeating_one_text_is_warned_about(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["报表", "报表", "报表", "x"])
    wb.active.append(["1", "2", "3", "4"])
    wb.save(tmp_path / "r.xlsx")
    result, _ = _run(tmp_path, {"kind": "xlsx", "path": "r.xlsx"})
    assert any("the header repeats '报表' in 3 columns" in w for w in result.warnings), result.warnings


def test_header_none_stages_every_row_with_letter_columns(tmp_path):
    wb = openpyxl.Workbook()
    for row in ([45292, 15, "a"], [45293, 16, "b"]):
        wb.active.append(row)
    wb.save(tmp_path / "n.xlsx")
    result, rows = _run(tmp_path, {"kind": "xlsx", "path": "n.xlsx", "header": "none"})
    assert [(r["_row"], r["a"], r["b"], r["c"]) for r in rows] == [
        (1, "45292", "15", "a"),
        (2, "45293", "16", "b"),
    ]
    assert result.rows == 2 and result.skipped == {}
    _, detected = _run(tmp_path, {"kind": "xlsx", "path": "n.xlsx"})
    assert len(detected) == 1


def test_a_header_that_looks_like_data_is_warned_about(tmp_path):
    wb = openpyxl.Workbook()
    for row in (["2021-01-01", 15, 7.5], ["2021-01-02", 16, 8]):
        wb.active.append(row)
    wb.save(tmp_path / "d.xlsx")
    result, _ = _run(tmp_path, {"kind": "xlsx", "path": "d.xlsx"})
    assert any("look like data" in w and "header: none" in w for w in result.warnings), result.warnings


# ---------------------------------------------------------------- 4, 8: numbers in date cells, 1904


def test_negative_and_out_of_range_numbers_in_date_cells_staged_as_numbers(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws.append(["差额", "日期"])
    ws.append([-1, 45356])
    ws.append([-12345.678, 3000000])
    for ref in ("A2", "A3", "B2", "B3"):
        ws[ref].number_format = "yyyy-mm-dd"
    wb.save(tmp_path / "neg.xlsx")
    result, rows = _run(tmp_path, {"kind": "xlsx", "path": "neg.xlsx"})
    assert [(r["差额"], r["日期"]) for r in rows] == [("-1", "2024-03-05"), ("-12345.678", "3000000")]
    assert any(
        "row 3, column A: -12345.678 in a date-formatted cell is no date" in w for w in result.warnings
    )


def test_negative_numbers_in_date_cells_of_an_xls_staged_as_numbers(tmp_path):
    """The same for .xls by xlwt (RK and NUMBER records): calamine gives -1 as the time
    00:00:00; xlrd, the reference, calls it a date it cannot convert."""
    import xlrd
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("S")
    dated = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for r, row in enumerate([("差额", "日期"), (-1, 45356), (-12345.678, 3000000), (-0.5, 45357.5)]):
        for c, value in enumerate(row):
            ws.write(r, c, value, dated if r else xlwt.Style.default_style)
    book.save(str(tmp_path / "neg.xls"))
    sheet = xlrd.open_workbook(str(tmp_path / "neg.xls")).sheet_by_index(0)
    assert [sheet.cell_value(r, 0) for r in (1, 2, 3)] == [-1, -12345.678, -0.5]
    assert sheet.cell_type(1, 0) == xlrd.XL_CELL_DATE
    result, rows = _run(tmp_path, {"kind": "xls", "path": "neg.xls"})
    assert [(r["差额"], r["日期"]) for r in rows] == [
        ("-1", "2024-03-05"),
        ("-12345.678", "3000000"),
        ("-0.5", "2024-03-06 12:00:00"),
    ]
    assert any("row 2, column A: -1 in a date-formatted cell is no date" in w for w in result.warnings)
    assert any("row 3, column B: 3000000 in a date-formatted cell" in w for w in result.warnings)


def test_out_of_range_serial_alone_is_a_number_on_the_fast_path_too(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["日期"])
    ws.append([3000000])
    ws.append([45356])
    ws["A2"].number_format = ws["A3"].number_format = "yyyy-mm-dd"
    wb.save(tmp_path / "far.xlsx")
    _, rows = _run(tmp_path, {"kind": "xlsx", "path": "far.xlsx"})
    assert [r["日期"] for r in rows] == ["3000000", "2024-03-05"]


def test_1904_workbook_says_its_date_system(tmp_path):
    sheet = sb.Sheet(
        "S",
        [
            sb.row(1, [sb.inline("A1", "日期"), sb.inline("B1", "序号")]),
            sb.row(2, [sb.num("A2", 1, sb.DATE), sb.num("B2", 1)]),
        ],
    )
    sb.write_book(tmp_path / "mac.xlsx", [sheet], date1904=True)
    result, rows = _run(tmp_path, {"kind": "xlsx", "path": "mac.xlsx"})
    assert [(r["日期"], r["序号"]) for r in rows] == [("1904-01-02", "1")]
    assert any("counts dates from 1904" in w for w in result.warnings)


def test_xhhhh_escapes_decoded_as_calamine_does(tmp_path):
    """Already right on main with calamine >= 0.2 and fastexcel 0.19 (kept as a guard)."""
    sheet = sb.Sheet(
        "S",
        [
            sb.row(1, [sb.inline("A1", "备注")]),
            sb.row(2, [sb.shared("A2", 0)]),
            sb.row(3, [sb.inline("A3", "b_x0041__x005F_x000D_")]),
        ],
    )
    sb.write_book(tmp_path / "esc.xlsx", [sheet], strings=["行一_x000D__x000A_行二"])
    _, rows = _run(tmp_path, {"kind": "xlsx", "path": "esc.xlsx"})
    assert [r["备注"] for r in rows] == ["行一\r\n行二", "bA_x000D_"]


# ---------------------------------------------------------------- 9, 12: hidden rows in other writers' XML


def _prefixed(path: Path) -> None:
    """An xlsx as .NET's Open XML SDK writes it: every tag of the sheet with an `x:` prefix."""
    rows = [
        sb.header_row(1, ["编码", "数量"]),
        sb.row(2, [sb.inline("A2", "a"), sb.num("B2", 1)]),
        sb.row(3, [sb.inline("A3", "b"), sb.num("B3", 2)], hidden=True),
        sb.row(4, [sb.error("A4", "#N/A"), sb.num("B4", 3)]),
    ]
    sb.write_book(path, [sb.Sheet("S", rows, merges=("B5:B6",))])
    with zipfile.ZipFile(path) as zf:
        parts = {i.filename: zf.read(i) for i in zf.infolist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    for tag in ("worksheet", "sheetData", "row", "c", "v", "is", "t", "mergeCells", "mergeCell"):
        xml = (
            xml.replace(f"<{tag} ", f"<x:{tag} ")
            .replace(f"<{tag}>", f"<x:{tag}>")
            .replace(f"</{tag}>", f"</x:{tag}>")
        )
    xml = xml.replace('<x:worksheet xmlns="', '<x:worksheet xmlns:x="')
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)


def test_hidden_rows_errors_and_merges_found_under_a_namespace_prefix(tmp_path):
    _prefixed(tmp_path / "x.xlsx")
    assert calamine.CalamineWorkbook.from_path(str(tmp_path / "x.xlsx")).get_sheet_by_name("S").to_python()[
        2
    ] == ["b", 2.0]
    result, rows = _run(tmp_path, {"kind": "xlsx", "path": "x.xlsx"})
    assert [(r["_row"], r["编码"], r["数量"]) for r in rows] == [(2, "a", "1"), (4, "#N/A", "3")]
    assert result.skipped == {"hidden_row": 1}


def test_libreoffice_attribute_order_hidden_before_r(tmp_path):
    rows = [
        sb.header_row(1, ["编码"]),
        sb.row(2, [sb.inline("A2", "a")]),
        '<row hidden="true" r="3" ht="0"><c r="A3" t="inlineStr"><is><t>b</t></is></c></row>',
        sb.row(4, [sb.inline("A4", "c")]),
    ]
    sb.write_book(tmp_path / "lo.xlsx", [sb.Sheet("S", rows, merges=("B9:B10",))])
    result, staged_rows = _run(tmp_path, {"kind": "xlsx", "path": "lo.xlsx"})
    assert [r["编码"] for r in staged_rows] == ["a", "c"]
    assert result.skipped == {"hidden_row": 1}


# ---------------------------------------------------------------- 7: error cells in .xls


def test_xls_error_cells_staged_as_their_text_and_error_rows_kept(tmp_path):
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("S")
    ws.write(0, 0, "物料")
    ws.write(0, 1, "单价")
    ws.write(1, 0, "M1")
    ws.row(1).set_cell_error(1, 0x07)  # codes, not names: xlwt maps "#VALUE!" to #NUM!'s code
    ws.row(2).set_cell_error(0, 0x2A)
    ws.row(2).set_cell_error(1, 0x0F)
    ws.write(3, 0, "M3")
    ws.write(3, 1, 5)
    book.save(str(tmp_path / "e.xls"))
    result, rows = _run(tmp_path, {"kind": "xls", "path": "e.xls"})
    assert [(r["_row"], r["物料"], r["单价"]) for r in rows] == [
        (2, "M1", "#DIV/0!"),
        (3, "#N/A", "#VALUE!"),
        (4, "M3", "5"),
    ]
    assert result.skipped == {}


# ---------------------------------------------------------------- 14: text calamine mis-decodes


def _with_codepage(path: Path, codepage: int) -> None:
    """The file with its CODEPAGE record saying `codepage` instead of xlwt's 1200 (UTF-16), as
    the BIFF8 writers of some ERPs and PHP/Perl exporters write it: Excel and xlrd ignore it for
    BIFF8 text, which is Latin-1 or UTF-16 whatever it says."""
    data = path.read_bytes()
    record = b"\x42\x00\x02\x00\xb0\x04"
    assert data.count(record) == 1
    path.write_bytes(data.replace(record, record[:4] + codepage.to_bytes(2, "little")))


def test_an_xls_whose_text_calamine_misdecodes_is_read_by_xlrd(tmp_path):
    import xlrd
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("Stock")
    for r, row in enumerate([("Name", "数量", "Lieferant"), ("Müller café", 5, "物料 M1"), ("x", 2.5)]):
        for c, value in enumerate(row):
            ws.write(r, c, value)
    ws.merge(1, 2, 2, 2)  # "物料 M1" merged over two rows: reported on the xlrd path too
    book.save(str(tmp_path / "cp.xls"))
    _with_codepage(tmp_path / "cp.xls", 1252)
    misread = calamine.CalamineWorkbook.from_path(str(tmp_path / "cp.xls")).get_sheet_by_name("Stock")
    assert misread.to_python()[1][0] == "M\x00ü\x00l\x00l\x00e\x00r\x00 \x00c\x00a\x00f\x00é\x00"
    sheet = xlrd.open_workbook(str(tmp_path / "cp.xls")).sheet_by_name("Stock")
    assert sheet.row_values(1) == ["Müller café", 5.0, "物料 M1"]
    result, rows = _run(tmp_path, {"kind": "xls", "path": "cp.xls", "sheet": "Stock"})
    assert [(r["name"], r["数量"], r["lieferant"]) for r in rows] == [
        ("Müller café", "5", "物料 M1"),
        ("x", "2.5", None),
    ]
    assert result.reader == "xlrd"
    assert any("calamine mis-decodes its text" in w and "read by xlrd" in w for w in result.warnings)
    assert any("merged cells C2:C3" in w for w in result.warnings), result.warnings


# ---------------------------------------------------------------- 6: long .xls texts over CONTINUE records

LONG_TEXT = "Lot A-17 " * 913 + "批次质检记录" * 1372 + "end of note; " * 637 + "ok"  # 24,732 characters


def test_long_xls_texts_over_continue_records_are_staged_whole(tmp_path):
    """A 24,732-character text, Latin then Chinese then Latin, cut over CONTINUE records with the
    compressed/UTF-16 flag changing at the cuts: as a shared string (plain, and with rich-text
    runs cut by a CONTINUE) and as a formula's cached text result (a STRING record), which
    calamine cut at 8,217 characters. Each staged whole, as xlrd reads it."""
    import xlrd

    from tests.extract import biff_books as bb

    assert len(LONG_TEXT) == 24_732
    sst = bb.Sst()
    for text in ("备注", "kind"):
        sst.add(text, wide=True)
    sst.add_split(LONG_TEXT)
    sst.add_split(LONG_TEXT, runs=3, runs_cut=1, first=5)
    sst.add("after", wide=False)
    cells = [bb.label_sst(0, 0, 0), bb.label_sst(0, 1, 1)]
    cells += [bb.label_sst(1, 0, 2), bb.label_sst(2, 0, 3), bb.label_sst(3, 0, 4)]
    cells += [bb.formula_text(4, 0, bb.pieces(LONG_TEXT, bb.MAX_DATA - 3)), bb.label(4, 1, "formula")]
    bb.save(tmp_path / "long.xls", bb.workbook("S", cells, sst))
    sheet = xlrd.open_workbook(str(tmp_path / "long.xls")).sheet_by_name("S")
    assert sheet.col_values(0) == ["备注", LONG_TEXT, LONG_TEXT, "after", LONG_TEXT]
    result, rows = _run(tmp_path, {"kind": "xls", "path": "long.xls"})
    assert [(r["_row"], len(r["备注"])) for r in rows] == [(2, 24_732), (3, 24_732), (4, 5), (5, 24_732)]
    assert [r["备注"] for r in rows] == sheet.col_values(0)[1:]
    assert rows[3]["kind"] == "formula" and result.reader == "calamine"


# ---------------------------------------------------------------- 13: every reader call a boundary


def test_library_panic_becomes_a_located_refusal(tmp_path, monkeypatch):
    """A Rust panic inside the reader (pyo3's PanicException is a BaseException) is exit 2 naming
    the file, not a raw traceback. The panic is pyo3's own, raised from Rust by a real call."""
    import json

    from typer.testing import CliRunner

    from migrate.cli.app import app

    panic = _pyo3_panic()
    wb = openpyxl.Workbook()
    wb.active.append(["a"])
    wb.active.append(["1"])
    wb.active.merge_cells("A3:A4")  # the cell-typed path, through python-calamine
    wb.save(tmp_path / "p.xlsx")
    make_project(tmp_path, {"s": {"kind": "xlsx", "path": "p.xlsx"}})

    def panics(self, name):
        raise panic

    monkeypatch.setattr(calamine.CalamineWorkbook, "get_sheet_by_name", panics)
    out = CliRunner().invoke(app, ["--project", str(tmp_path), "--json", "extract"])
    assert out.exit_code == 2, out.output
    assert "p.xlsx, sheet Sheet: cannot be read" in json.loads(out.stdout)["message"]


def _pyo3_panic() -> BaseException:
    """pyo3's PanicException when the runtime module exists (pyo3 creates it at the first panic),
    else a class of the same name and base: what matters is that it is no Exception."""
    import sys

    runtime = sys.modules.get("pyo3_runtime")
    kind = getattr(runtime, "PanicException", None) or type("PanicException", (BaseException,), {})
    exc = kind("index out of bounds: the len is 3 but the index is 7")
    assert not isinstance(exc, Exception)
    return exc


def test_xlrd_probe_prints_stay_off_stdout_and_its_failures_are_contained(tmp_path, capfd):
    """xlrd, the hidden-row probe for .xls the direct BIFF8 walk declines, prints warnings to
    stdout by default (here: bytes after the last sector), which would break --json; and a file
    it cannot open leaves calamine's values standing (no hidden rows known)."""
    import xlwt

    from migrate.extract.readers import biff

    book = xlwt.Workbook()
    book.add_sheet("S").write(0, 0, "a")
    book.save(str(tmp_path / "o.xls"))
    (tmp_path / "junk.xls").write_bytes((tmp_path / "o.xls").read_bytes() + b"junk")
    assert biff._xlrd_hidden_rows(tmp_path / "junk.xls", "S") == frozenset()
    (tmp_path / "bad.xls").write_bytes(biff.__name__.encode() * 100)
    assert biff._xlrd_hidden_rows(tmp_path / "bad.xls", "S") == frozenset()
    assert capfd.readouterr().out == ""


# ---------------------------------------------------------------- 10: bounded width and time


def test_a_sheet_16384_columns_wide_is_refused_in_bounded_time(tmp_path):
    """2 rows x 16,384 columns of one repeated header text: fastexcel's naming of repeated
    headers ran for minutes; now the sheet goes to calamine and is refused as wider than a
    staging table, in seconds, naming the file."""
    import json
    import subprocess
    import sys
    import time

    wb = openpyxl.Workbook()
    wb.active.append(["x"] * 16384)
    wb.active.append([1] * 16384)
    wb.save(tmp_path / "w.xlsx")
    make_project(tmp_path, {"s": {"kind": "xlsx", "path": "w.xlsx"}})
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "migrate", "--project", str(tmp_path), "--json", "extract"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.perf_counter() - started < 60
    assert proc.returncode == 2, proc.stderr[-2000:]
    message = json.loads(proc.stdout)["message"]
    assert "w.xlsx: 16,384 columns, more than a staging table holds" in message
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- 15: the formats factories produce


def _cells(rows: list[dict], *columns: str) -> list[tuple]:
    return [tuple(r[c] for c in ("_row", *columns)) for r in rows]


def test_xlsb_is_a_first_class_kind(tmp_path):
    import datetime as dt

    from pyxlsbwriter import XlsbWriter

    with XlsbWriter(str(tmp_path / "a.xlsb")) as writer:
        writer.add_sheet("批次")
        writer.write_sheet(
            [
                ["报表", None, None],
                ["编码", "数量", "日期"],
                ["007", 1.5, dt.datetime(2024, 3, 5)],
                ["x ", -2, None],
            ]
        )
    result, rows = _run(tmp_path, {"kind": "xlsb", "path": "a.xlsb"})
    assert _cells(rows, "编码", "数量", "日期") == [(3, "007", "1.5", "2024-03-05"), (4, "x ", "-2", None)]
    assert result.skipped == {"above_header": 1} and result.reader == "calamine"


def test_ods_is_a_first_class_kind(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"编码": ["007", "A1"], "数量": [1.5, -2.0], "备注": ["尾随空格  ", None]})
    frame.to_excel(tmp_path / "a.ods", engine="odf", index=False, sheet_name="库存")
    result, rows = _run(tmp_path, {"kind": "ods", "path": "a.ods", "stop_at": "^A1$"})
    assert _cells(rows, "编码", "数量", "备注") == [(2, "007", "1.5", "尾随空格  ")]
    assert result.skipped == {"stop_row": 1}


def test_an_xlsx_that_is_really_ods_names_the_kind_to_declare(tmp_path):
    import pandas as pd

    pd.DataFrame({"a": [1]}).to_excel(tmp_path / "a.xlsx", engine="odf", index=False)
    with pytest.raises(
        SourceError, match=r"a\.xlsx is declared as xlsx but is an OpenDocument spreadsheet.*kind: ods"
    ):
        _run(tmp_path, {"kind": "xlsx", "path": "a.xlsx"})


SPREADSHEETML = """<?xml version="1.0" encoding="UTF-8"?>
<?mso-application progid="Excel.Sheet"?>
<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"
 xmlns:x="urn:schemas-microsoft-com:office:excel">
 <Worksheet ss:Name="物料">
  <Table>
   <Row><Cell ss:MergeAcross="2"><Data ss:Type="String">ERP 导出</Data></Cell></Row>
   <Row><Cell><Data ss:Type="String">编码</Data></Cell><Cell><Data ss:Type="String">数量</Data></Cell>
        <Cell><Data ss:Type="String">日期</Data></Cell></Row>
   <Row><Cell><Data ss:Type="String">007 </Data></Cell><Cell><Data ss:Type="Number">2.5</Data></Cell>
        <Cell><Data ss:Type="DateTime">2024-03-05T00:00:00.000</Data></Cell></Row>
   <Row ss:Hidden="1"><Cell><Data ss:Type="String">hidden</Data></Cell></Row>
   <Row><Cell><Data ss:Type="String">A2</Data></Cell><Cell><Data ss:Type="Error">#N/A</Data></Cell>
        <Cell ss:Index="3"><Data ss:Type="DateTime">2024-03-05T08:30:00.000</Data></Cell></Row>
  </Table>
 </Worksheet>
</Workbook>
"""


def test_spreadsheetml_2003_named_xls_is_read_with_a_defused_parser(tmp_path):
    (tmp_path / "erp.xls").write_text(SPREADSHEETML, encoding="utf-8")
    result, rows = _run(tmp_path, {"kind": "xls", "path": "erp.xls"})
    assert _cells(rows, "编码", "数量", "日期") == [
        (3, "007 ", "2.5", "2024-03-05"),
        (5, "A2", "#N/A", "2024-03-05 08:30:00"),
    ]
    assert result.skipped == {"above_header": 1, "hidden_row": 1} and result.reader == "spreadsheetml"
    bomb = SPREADSHEETML.replace("<?mso", '<!DOCTYPE x [<!ENTITY a "aaaa">]><?mso')
    (tmp_path / "erp.xls").write_text(bomb, encoding="utf-8")
    with pytest.raises(SourceError, match=r"erp\.xls is refused: its XML declares a DTD or entities"):
        _run(tmp_path, {"kind": "xls", "path": "erp.xls"})


def test_html_table_named_xls_is_read_with_spans_as_merges(tmp_path):
    page = (
        "<html><head><meta charset='utf-8'></head><body><table>\n"
        "<tr><th>编码</th><th>名称</th><th>数量</th></tr>\n"
        "<tr><td rowspan='2'>M1</td><td>螺丝&amp;螺母</td><td>5</td></tr>\n"
        "<tr><td>垫圈</td><td>\n  007\n</td></tr>\n"
        "</table></body></html>"
    )
    (tmp_path / "page.xls").write_text(page, encoding="utf-8")
    result, rows = _run(tmp_path, {"kind": "xls", "path": "page.xls"})
    assert _cells(rows, "编码", "名称", "数量") == [(2, "M1", "螺丝&螺母", "5"), (3, None, "垫圈", "007")]
    assert any("merged cells A2:A3" in w for w in result.warnings) and result.reader == "html"


def _dbase(path: Path) -> None:
    """A one-field dBase III table, laid out byte by byte as its format says."""
    import struct

    field_ = b"CODE".ljust(11, b"\0") + b"C" + b"\0" * 4 + bytes([8, 0]) + b"\0" * 14
    header = struct.pack("<BBBBIHH20x", 0x03, 124, 3, 5, 1, 65, 9) + field_ + b"\r"
    path.write_bytes(header + b" M0000001" + b"\x1a")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        (
            "lotus.xls",
            b"\x00\x00\x02\x00\x06\x04\x06\x00" + b"\x00" * 64,
            "a Lotus 1-2-3 worksheet.*LibreOffice Calc",
        ),
        ("quattro.xlsx", b"\x00\x00\x02\x00\x20\x51" + b"\x00" * 64, "a Quattro Pro spreadsheet"),
        ("sylk.xls", b'ID;PWXL;N;E\r\nC;Y1;X1;K"a"\r\nE\r\n', "a SYLK file.*save it as \\.xlsx"),
        ("dif.xls", b'TABLE\r\n0,1\r\n"EXCEL"\r\nVECTORS\r\n0,1\r\n""\r\n', "a DIF file"),
        ("table.xls", None, "a dBase table.*LibreOffice Calc"),
        ("numbers.xlsx", "numbers", "an Apple Numbers document.*Export To"),
    ],
)
def test_other_formats_refused_naming_the_real_format(tmp_path, name, content, words):
    if content is None:
        _dbase(tmp_path / name)
    elif content == "numbers":
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            zf.writestr("Index/Document.iwa", b"\x00" * 32)
            zf.writestr("Metadata/Properties.plist", b"<plist/>")
    else:
        (tmp_path / name).write_bytes(content)
    kind = name.rsplit(".", 1)[1]
    with pytest.raises(
        SourceError, match=rf"{re.escape(name)} is declared as {kind} but is {words}"
    ) as caught:
        _run(tmp_path, {"kind": kind, "path": name})
    assert "kind: csv" not in str(caught.value) + (caught.value.hint or "")


# ---------------------------------------------------------------- 14: sheets that hold no cells


def test_a_chart_sheet_is_skipped_with_a_warning(tmp_path):
    from openpyxl.chart import BarChart, Reference

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "数据"
    for row in (["月", "量"], ["1", 3], ["2", 4]):
        ws.append(row)
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=3), titles_from_data=True)
    wb.create_chartsheet("图表").add_chart(chart)
    wb.save(tmp_path / "c.xlsx")
    result, rows = _run(tmp_path, {"kind": "xlsx", "path": "c.xlsx"})
    assert len(rows) == 2 and any(
        "sheet 图表: a chart sheet, no cells to stage; skipped" in w for w in result.warnings
    )


# ---------------------------------------------------------------- 5: text exactly as stored


def test_edge_spaces_without_xml_space_preserve_are_staged_as_stored(tmp_path):
    """Writers other than Excel leave out xml:space="preserve"; calamine then trims the text
    (shared, rich-text runs and inline strings alike). The stored text is staged."""
    rows = [
        sb.row(1, [sb.inline("A1", "编码"), sb.inline("B1", "名称")]),
        sb.row(2, [sb.shared("A2", 0), sb.inline("B2", "  前后空格 ")]),
        sb.row(3, [sb.shared("A3", 1), sb.shared("B3", 2)]),
    ]
    sb.write_book(tmp_path / "t.xlsx", [sb.Sheet("S", rows)], strings=["001  ", "RICH", "a&amp;b "])
    with zipfile.ZipFile(tmp_path / "t.xlsx") as zf:
        parts = {i.filename: zf.read(i) for i in zf.infolist()}
    for name in ("xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"):
        parts[name] = parts[name].replace(b' xml:space="preserve"', b"")
    parts["xl/sharedStrings.xml"] = parts["xl/sharedStrings.xml"].replace(
        b"<si><t>RICH</t></si>", b"<si><r><t>x </t></r><r><rPr><b/></rPr><t>y</t></r></si>"
    )
    with zipfile.ZipFile(tmp_path / "t.xlsx", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    trimmed = calamine.CalamineWorkbook.from_path(str(tmp_path / "t.xlsx")).get_sheet_by_name("S").to_python()
    assert trimmed[1] == ["001", "前后空格"]  # what calamine gives
    _, staged_rows = _run(tmp_path, {"kind": "xlsx", "path": "t.xlsx"})
    assert _cells(staged_rows, "编码", "名称") == [(2, "001  ", "  前后空格 "), (3, "x y", "a&amp;b ")]


# ---------------------------------------------------------------- 11: memory by the real used range


def test_a_nearly_empty_65536_x_256_xls_is_read_in_bounded_memory(tmp_path):
    """Two rows of data and one value in the last cell: calamine holds the whole rectangle
    (about 1 GB); the sheet is read row by row by xlrd instead, with the same texts."""
    import datetime as dt
    import json
    import subprocess
    import sys

    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("S")
    for c, name in enumerate(["编码", "日期", "值"]):
        ws.write(0, c, name)
    ws.write(1, 0, "007")
    ws.write(1, 1, dt.date(2024, 3, 5), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
    ws.write(1, 2, 2.5)
    ws.write(2, 0, True)
    ws.row(2).set_cell_error(2, 0x2A)
    ws.write(65535, 255, 7)
    book.save(str(tmp_path / "tall.xls"))
    make_project(tmp_path, {"s": {"kind": "xls", "path": "tall.xls"}})
    script = (
        "import resource, sys\nfrom migrate.cli.app import main\n"
        "sys.argv = ['migrate', '--project', sys.argv[1], '--json', 'extract']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\nraise SystemExit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib} KiB"
    assert json.loads(proc.stdout)["sources"][0]["rows"] == 3
    rows = staged(Project(tmp_path), "s")
    assert [(r["_row"], r["编码"], r["日期"], r["值"]) for r in rows] == [
        (2, "007", "2024-03-05", "2.5"),
        (3, "TRUE", None, "#N/A"),
        (65536, None, None, None),
    ]
    assert rows[2]["column_iv"] == "7"


def test_an_xls_whose_dimensions_record_is_damaged_is_read_not_aborted(tmp_path):
    """Found by the slow fuzz run: a DIMENSIONS record whose first row is past its last (one
    flipped byte) made calamine reserve room for 5.7 billion cells before reading any; the
    failed 228 GB allocation aborted the whole process (SIGABRT, no message, no exception to
    catch). Such a workbook is read by xlrd, which ignores the record. In a subprocess: on the
    old code the abort would take pytest down with it."""
    import json
    import subprocess
    import sys

    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("S")
    for r, row in enumerate([("编码", "数量"), ("001", 2.5), ("002", 4)]):
        for c, value in enumerate(row):
            ws.write(r, c, value)
    book.save(str(tmp_path / "dim.xls"))
    data = (tmp_path / "dim.xls").read_bytes()
    at = data.index(b"\x00\x02\x0e\x00") + 4  # DIMENSIONS, 14 bytes: first row (u32) ...
    (tmp_path / "dim.xls").write_bytes(data[:at] + (0x56000000).to_bytes(4, "little") + data[at + 4 :])
    make_project(tmp_path, {"s": {"kind": "xls", "path": "dim.xls"}})
    proc = subprocess.run(
        [sys.executable, "-m", "migrate", "--project", str(tmp_path), "--json", "extract"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-1500:])
    assert json.loads(proc.stdout)["sources"][0]["reader"] == "xlrd"
    assert [(r["编码"], r["数量"]) for r in staged(Project(tmp_path), "s")] == [("001", "2.5"), ("002", "4")]


# ---------------------------------------------------------------- 14: a genuine file that compresses well


def test_a_small_sheet_compressing_past_100_to_1_is_read_not_refused_as_a_bomb(tmp_path):
    """Rows without `r` attributes (as some ERPs write them), all alike: 4 MB of XML deflates to
    a few KB. Bombs are still refused past RATIO_GRACE (the corpus' 200 MB bomb)."""
    rows = [sb.header_row(1, ["状态", "数量"])]
    rows += ['<row><c t="s"><v>3</v></c><c><v>1</v></c></row>'] * 60_000
    sb.write_book(tmp_path / "r.xlsx", [sb.Sheet("S", rows)])
    with zipfile.ZipFile(tmp_path / "r.xlsx") as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    assert info.file_size > 100 * info.compress_size and info.file_size > (1 << 20)
    result, staged_rows = _run(tmp_path, {"kind": "xlsx", "path": "r.xlsx"})
    assert result.rows == 60_000 and staged_rows[-1]["状态"] == sb.NOTES[3]


def test_a_source_may_raise_the_inflated_size_allowed_at_any_ratio(tmp_path):
    """7,000 rows of one 1,000-character note (as an ERP pads a text column): 17 MB of sheet XML
    compressed over 300:1, past the 16 MB allowed at any ratio, so refused as a bomb by default,
    with a message naming the option; read whole once the source declares `inflate_limit_mb`."""
    note = "品质合格 " * 199 + "品质合格"
    rows = [sb.header_row(1, ["备注"])]
    rows += [f'<row><c t="inlineStr"><is><t>{note}</t></is></c></row>'] * 7_000
    sb.write_book(tmp_path / "pad.xlsx", [sb.Sheet("S", rows)])
    with zipfile.ZipFile(tmp_path / "pad.xlsx") as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    assert info.file_size > 16 << 20 and info.file_size > 100 * info.compress_size
    with pytest.raises(SourceError) as refused:
        _run(tmp_path, {"kind": "xlsx", "path": "pad.xlsx"})
    assert (
        "as zip bombs do" in str(refused.value)
        and "raise the source's `inflate_limit_mb` (now 16" in refused.value.hint
    )
    result, staged_rows = _run(tmp_path, {"kind": "xlsx", "path": "pad.xlsx", "inflate_limit_mb": 20})
    assert result.rows == 7_000 and staged_rows[-1]["备注"] == note


def test_password_protected_xlsx_read_with_the_password_from_the_environment(tmp_path, monkeypatch):
    from msoffcrypto.format.ooxml import OOXMLFile

    wb = openpyxl.Workbook()
    wb.active.append(["编码"])
    wb.active.append(["007"])
    wb.save(tmp_path / "plain.xlsx")
    with (tmp_path / "plain.xlsx").open("rb") as plain, (tmp_path / "locked.xlsx").open("wb") as locked:
        OOXMLFile(plain).encrypt("s3cret-ÄÖ", locked)
    monkeypatch.setenv("LOCKED_PW", "s3cret-ÄÖ")
    _, rows = _run(tmp_path, {"kind": "xlsx", "path": "locked.xlsx", "password": "${LOCKED_PW}"})
    assert [r["编码"] for r in rows] == ["007"]
    monkeypatch.setenv("LOCKED_PW", "wrong")
    with pytest.raises(
        SourceError, match=r"locked\.xlsx is password-protected and the password given does not open it"
    ) as caught:
        _run(tmp_path, {"kind": "xlsx", "path": "locked.xlsx", "password": "${LOCKED_PW}"})
    assert "wrong" not in str(caught.value)
    with pytest.raises(
        SourceError,
        match=r"locked\.xlsx is declared as xlsx but is a password-protected .*password: \$\{ENV_VAR\}",
    ):
        _run(tmp_path, {"kind": "xlsx", "path": "locked.xlsx"})


def test_zip_entries_named_with_backslashes_are_read(tmp_path):
    """Some Windows writers name entries `xl\\worksheets\\sheet1.xml`; calamine reads them, and
    so must the guard (hidden rows, merges) and the workbook part lookup."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    for row in (["编码"], ["a"], ["b"], ["c"]):
        ws.append(row)
    ws.row_dimensions[3].hidden = True
    wb.save(tmp_path / "plain.xlsx")
    with (
        zipfile.ZipFile(tmp_path / "plain.xlsx") as src,
        zipfile.ZipFile(tmp_path / "bs.xlsx", "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in src.infolist():
            out.writestr(info.filename.replace("/", "\\"), src.read(info))
    result, rows = _run(tmp_path, {"kind": "xlsx", "path": "bs.xlsx"})
    assert [r["编码"] for r in rows] == ["a", "c"] and result.skipped == {"hidden_row": 1}


def test_an_encrypted_xls_is_refused_as_password_protected(tmp_path):
    """A FILEPASS record after the globals' BOF (XOR obfuscation), written into xlwt's own
    stream: calamine reads such files as garbage or fails on code pages; xlrd says encrypted."""
    import struct

    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("S")
    sheet.write(0, 0, "a")
    sheet.write(1, 0, "v")
    interface_header = book._Workbook__intf_hdr_rec
    book._Workbook__intf_hdr_rec = lambda: (
        struct.pack("<HHHHH", 0x002F, 6, 0, 0x1234, 0x5678) + interface_header()
    )
    book.save(str(tmp_path / "xor.xls"))
    with pytest.raises(SourceError, match=r"^xor\.xls is password-protected \(an encrypted \.xls\)"):
        _run(tmp_path, {"kind": "xls", "path": "xor.xls"})


def test_a_biff2_worksheet_is_read_by_xlrd(tmp_path):
    """Excel 2.x wrote a bare BIFF2 stream (no OLE2 container), which calamine cannot open: the
    records are laid out byte by byte as the format says (BOF, LABEL, NUMBER, EOF)."""
    import struct

    def record(kind: int, data: bytes) -> bytes:
        return struct.pack("<HH", kind, len(data)) + data

    def label(r: int, c: int, text: str) -> bytes:
        raw = text.encode("latin-1")
        return record(0x0004, struct.pack("<HH3sB", r, c, b"\0\0\0", len(raw)) + raw)

    def number(r: int, c: int, value: float) -> bytes:
        return record(0x0003, struct.pack("<HH3sd", r, c, b"\0\0\0", value))

    body = label(0, 0, "code") + label(0, 1, "qty") + label(1, 0, "007") + number(1, 1, 2.5)
    (tmp_path / "old.xls").write_bytes(
        record(0x0009, struct.pack("<HH", 2, 0x0010)) + body + record(0x000A, b"")
    )
    result, rows = _run(tmp_path, {"kind": "xls", "path": "old.xls"})
    assert _cells(rows, "code", "qty") == [(2, "007", "2.5")] and result.reader == "xlrd"


def test_a_workbook_part_found_through_rels_under_another_name_is_read(tmp_path):
    """`_rels/.rels` names xl/book.xml as the workbook (a valid OOXML package); calamine only
    looks at xl/workbook.xml."""
    wb = openpyxl.Workbook()
    wb.active.append(["编码"])
    wb.active.append(["a"])
    wb.save(tmp_path / "plain.xlsx")
    with (
        zipfile.ZipFile(tmp_path / "plain.xlsx") as src,
        zipfile.ZipFile(tmp_path / "moved.xlsx", "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in src.infolist():
            data, name = src.read(info), info.filename
            name = {
                "xl/workbook.xml": "xl/book.xml",
                "xl/_rels/workbook.xml.rels": "xl/_rels/book.xml.rels",
            }.get(name, name)
            if name in ("_rels/.rels", "[Content_Types].xml"):
                data = data.replace(b"xl/workbook.xml", b"xl/book.xml")
            out.writestr(name, data)
    _, rows = _run(tmp_path, {"kind": "xlsx", "path": "moved.xlsx"})
    assert [r["编码"] for r in rows] == ["a"]
