"""The malformed-input corpus (RELIABILITY T4): files written by real libraries (openpyxl, xlwt,
zipfile, codecs) into a folder at test time, each with what extract must do with it.

A case either fails the whole file (`error`: a regular expression the one-paragraph message must
match, naming the file and where) or stages exactly `rows` rows, with optional value checks.
Run `python -m tests.extract.corpus DIR` to write the corpus somewhere to look at it.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import xlwt

from tests.extract.segment_books import lie_about_size

Check = Callable[[list[dict]], None]


@dataclass
class Case:
    name: str  # also the source name in project.yaml
    spec: dict
    error: str | None = None  # regex over the error message
    rows: int | None = None
    checks: list[Check] = field(default_factory=list)
    skipped: dict | None = None
    warnings: str | None = None  # regex one warning must match


def _values(column: str, expected: list) -> Check:
    def check(rows: list[dict]) -> None:
        got = [r[column] for r in rows]
        assert got == expected, f"{column}: {got!r} != {expected!r}"

    return check


def _lineage(expected: list[tuple]) -> Check:
    def check(rows: list[dict]) -> None:
        got = [(r["_sheet"], r["_row"]) for r in rows]
        assert got == expected, f"lineage: {got!r} != {expected!r}"

    return check


# ---------------------------------------------------------------- writers


def _xlsx(path: Path, sheets: dict[str, list[list]], epoch_1904: bool = False, setup=None) -> None:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    if epoch_1904:
        wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    if setup:
        setup(wb)
    wb.save(path)


def _xls(path: Path, rows: list[list], hidden_sheet: bool = False) -> None:
    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("Sheet1")
    dates = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, dt.date):
                ws.write(r, c, value, dates)
            elif value is not None:
                ws.write(r, c, value)
    if hidden_sheet:
        other = book.add_sheet("hidden")
        other.write(0, 0, "h")
        other.visibility = 1
    book.save(str(path))


def _patch(path: Path, part: str, change: Callable[[bytes], bytes]) -> None:
    """Rewrite one part of a zip (an xlsx written by openpyxl) in place."""
    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in entries:
            out.writestr(info.filename, change(data) if info.filename == part else data)


def _text(path: Path, text: str, encoding: str, bom: bytes = b"") -> None:
    path.write_bytes(bom + text.encode(encoding))


SHEET1 = "xl/worksheets/sheet1.xml"
HEADER = ["编码", "名称", "数量"]
BASIC = [HEADER, ["001", "螺丝", 5], ["002", "螺母", 7]]
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;'
    b'&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'
    b'&lol2;">]>'
)


# ---------------------------------------------------------------- container faults


def container_cases(d: Path) -> list[Case]:
    cases = []
    _xlsx(d / "good.xlsx", {"S": BASIC})
    data = (d / "good.xlsx").read_bytes()
    (d / "truncated.xlsx").write_bytes(data[: len(data) // 2])
    cases.append(
        Case(
            "truncated_xlsx",
            {"kind": "xlsx", "path": "truncated.xlsx"},
            error=r"^truncated\.xlsx is damaged or truncated",
        )
    )
    (d / "empty.xlsx").write_bytes(b"")
    cases.append(Case("empty_xlsx", {"kind": "xlsx", "path": "empty.xlsx"}, error=r"^empty\.xlsx is empty"))
    ole = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 1000
        + "EncryptionInfo".encode("utf-16-le")
        + b"\x00" * 500
    )
    (d / "encrypted.xlsx").write_bytes(ole)
    cases.append(
        Case(
            "encrypted_xlsx",
            {"kind": "xlsx", "path": "encrypted.xlsx"},
            error=r"^encrypted\.xlsx .*password-protected",
        )
    )
    _xls(d / "real_xls.xlsx", BASIC)
    cases.append(
        Case(
            "xls_named_xlsx",
            {"kind": "xlsx", "path": "real_xls.xlsx"},
            error=r"^real_xls\.xlsx .*legacy Excel 97-2003 .*kind: xls",
        )
    )
    (d / "real_xlsx.xls").write_bytes(data)
    cases.append(
        Case(
            "xlsx_named_xls",
            {"kind": "xls", "path": "real_xlsx.xls"},
            error=r"^real_xlsx\.xls .*an Excel workbook \(\.xlsx\)\. Declare it with `kind: xlsx`",
        )
    )
    _text(d / "text.xlsx", "编码,名称\n001,螺丝\n", "utf-8")
    cases.append(
        Case(
            "text_named_xlsx",
            {"kind": "xlsx", "path": "text.xlsx"},
            error=r"^text\.xlsx .*text file .*kind: csv",
        )
    )
    _text(
        d / "page.xls",
        "<html><body><table><tr><td>编码</td></tr><tr><td>1</td></tr></table></body></html>",
        "utf-8",
    )
    cases.append(
        Case(
            "html_named_xls_read",
            {"kind": "xls", "path": "page.xls"},
            rows=1,
            checks=[_values("编码", ["1"])],
        )
    )
    cases.append(
        Case(
            "html_named_xlsx",
            {"kind": "xlsx", "path": "page.xls"},
            error=r"^page\.xls .*HTML page.*kind: xls",
        )
    )
    (d / "noise.xlsx").write_bytes(bytes(range(256)) * 8)
    cases.append(
        Case(
            "binary_named_xlsx",
            {"kind": "xlsx", "path": "noise.xlsx"},
            error=r"^noise\.xlsx .*unrecognised binary",
        )
    )
    with zipfile.ZipFile(d / "plain.xlsx", "w") as zf:
        zf.writestr("readme.txt", "not a workbook")
    cases.append(
        Case(
            "zip_not_workbook",
            {"kind": "xlsx", "path": "plain.xlsx"},
            error=r"^plain\.xlsx is not an Excel workbook: xl/workbook\.xml is missing",
        )
    )
    (d / "truncated.xls").write_bytes((d / "real_xls.xlsx").read_bytes()[:700])
    cases.append(
        Case(
            "truncated_xls",
            {"kind": "xls", "path": "truncated.xls"},
            error=r"^truncated\.xls cannot be read as a workbook",
        )
    )
    _xlsx(d / "badxml.xlsx", {"S": BASIC})
    _patch(d / "badxml.xlsx", SHEET1, lambda b: b.replace(b"</sheetData>", b"<row><c></sheetData>"))
    cases.append(
        Case(
            "broken_sheet_xml",
            {"kind": "xlsx", "path": "badxml.xlsx"},
            error=r"^badxml\.xlsx(, sheet S:)? cannot be read",
        )
    )
    cases.append(
        Case("missing_file", {"kind": "xlsx", "path": "nowhere.xlsx"}, error=r"^nowhere\.xlsx does not exist")
    )
    cases.append(
        Case(
            "missing_sheet",
            {"kind": "xlsx", "path": "good.xlsx", "sheet": "X"},
            error=r"^good\.xlsx: no sheet 'X'; sheets: S",
        )
    )
    cases.append(
        Case(
            "pattern_matches_none",
            {"kind": "xlsx", "path": "good.xlsx", "sheet_pattern": "^20"},
            error=r"^good\.xlsx: no visible sheet matches '\^20'",
        )
    )
    _xlsx(
        d / "allhidden.xlsx",
        {"S": BASIC, "T": BASIC},
        setup=lambda wb: [setattr(wb["T"], "sheet_state", "hidden")],
    )
    cases.append(
        Case(
            "hidden_sheet_left_out",
            {"kind": "xlsx", "path": "allhidden.xlsx"},
            rows=2,
            warnings=r"sheet T: hidden, left out",
        )
    )
    return cases


def bomb_cases(d: Path) -> list[Case]:
    cases = []
    with zipfile.ZipFile(d / "zipbomb.xlsx", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            block = b"\x00" * (1 << 20)
            for _ in range(200):
                fh.write(block)
    cases.append(
        Case(
            "zip_bomb_ratio",
            {"kind": "xlsx", "path": "zipbomb.xlsx"},
            error=r"^zipbomb\.xlsx is refused: zip entry xl/worksheets/sheet1\.xml inflates [\d,]+ times \(limit 100:1\)",
        )
    )
    _xlsx(d / "liar.xlsx", {"S": BASIC * 2000})
    _lie_about_size(d / "liar.xlsx", SHEET1)
    cases.append(
        Case(
            "zip_size_lie",
            {"kind": "xlsx", "path": "liar.xlsx"},
            error=r"^liar\.xlsx is (refused|damaged): zip entry xl/worksheets/sheet1\.xml",
        )
    )
    with zipfile.ZipFile(d / "many.xlsx", "w", zipfile.ZIP_STORED) as zf:
        for i in range(10_001):
            zf.writestr(f"x/{i}", b"")
    cases.append(
        Case(
            "zip_too_many_entries",
            {"kind": "xlsx", "path": "many.xlsx"},
            error=r"^many\.xlsx is refused: its zip holds 10,001 entries",
        )
    )
    _xlsx(d / "laughs.xlsx", {"S": BASIC})
    _patch(d / "laughs.xlsx", "xl/styles.xml", lambda b: LAUGHS + _body(b))
    cases.append(
        Case(
            "xml_entity_bomb",
            {"kind": "xlsx", "path": "laughs.xlsx"},
            error=r"^laughs\.xlsx is refused: part xl/styles\.xml declares a DTD",
        )
    )
    _xlsx(d / "xxe.xlsx", {"S": BASIC})
    xxe = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    _patch(d / "xxe.xlsx", SHEET1, lambda b: xxe + _body(b))
    cases.append(
        Case(
            "xml_external_entity",
            {"kind": "xlsx", "path": "xxe.xlsx"},
            error=r"^xxe\.xlsx is refused: part xl/worksheets/sheet1\.xml declares a DTD",
        )
    )
    return cases


def _body(xml: bytes) -> bytes:
    """The XML without its declaration, so a DOCTYPE can go in front."""
    return xml.split(b"?>", 1)[1] if xml.startswith(b"<?xml") else xml


def _lie_about_size(path: Path, part: str) -> None:
    """Declare a part 100 bytes long in the local and central headers, as a crafted bomb would."""
    lie_about_size(path, part, 100)


# ---------------------------------------------------------------- text files


def text_cases(d: Path) -> list[Case]:
    cases = []
    body = "物料编码,名称,数量\r\n00123,六角螺栓 M8,1200\r\n00124,垫片,NA\r\n"
    codes = _values("物料编码", ["00123", "00124"])
    names = _values("名称", ["六角螺栓 M8", "垫片"])
    for name, encoding, bom in (
        ("csv_gbk", "gbk", b""),
        ("csv_gb18030", "gb18030", b""),
        ("csv_utf8", "utf-8", b""),
        ("csv_utf8_bom", "utf-8", codecs.BOM_UTF8),
        ("csv_utf16_le", "utf-16-le", codecs.BOM_UTF16_LE),
        ("csv_utf16_be", "utf-16-be", codecs.BOM_UTF16_BE),
    ):
        _text(d / f"{name}.csv", body, encoding, bom)
        cases.append(
            Case(
                name,
                {"kind": "csv", "path": f"{name}.csv"},
                rows=2,
                checks=[codes, names, _values("数量", ["1200", "NA"])],
            )
        )
    _text(d / "rare.csv", "编码,名称\n1,𠀀𠀁 (扩展B)\n2,㐀\n", "gb18030")
    cases.append(
        Case(
            "csv_gb18030_four_byte",
            {"kind": "csv", "path": "rare.csv"},
            rows=2,
            checks=[_values("名称", ["𠀀𠀁 (扩展B)", "㐀"])],
        )
    )
    latin = "Lieferant,Ort,Bemerkung\n" + "".join(
        f"Müller {i},Köln,café crème à la française\n" for i in range(40)
    )
    _text(d / "cp1252.csv", latin, "cp1252")
    cases.append(
        Case(
            "csv_cp1252",
            {"kind": "csv", "path": "cp1252.csv", "encoding": "cp1252"},
            rows=40,
            checks=[lambda rows: _eq(rows[0]["ort"], "Köln")],
        )
    )
    for name, sep, ext in (("tsv", "\t", "tsv"), ("semicolon", ";", "csv"), ("pipe", "|", "txt")):
        _text(
            d / f"{name}.{ext}",
            sep.join(HEADER)
            + "\n"
            + sep.join(["001", "a,b", "1"])
            + "\n"
            + sep.join(["002", "c", "2"])
            + "\n",
            "utf-8",
        )
        cases.append(
            Case(
                f"delimiter_{name}",
                {"kind": "csv", "path": f"{name}.{ext}"},
                rows=2,
                checks=[_values("名称", ["a,b", "c"])],
            )
        )
    _text(d / "quoted.csv", '编码,备注\n001,"第一行\n第二行"\n002,"含,逗号"\n003,"含""引号"""\n', "utf-8")
    cases.append(
        Case(
            "csv_quoted_newlines",
            {"kind": "csv", "path": "quoted.csv"},
            rows=3,
            checks=[_values("备注", ["第一行\n第二行", "含,逗号", '含"引号"'])],
        )
    )
    _text(d / "blank.csv", "编码,名称\r\n\r\n001,a\r\n,\r\n\r\n002,b\r\n", "utf-8")
    cases.append(
        Case(
            "csv_blank_lines",
            {"kind": "csv", "path": "blank.csv"},
            rows=2,
            skipped={"empty_row": 3},
            checks=[lambda rows: _eq([r["_row"] for r in rows], [3, 6])],
        )
    )
    sentinels = ["NA", "NULL", "N/A", "None", "nan", "-", "#N/A", "null", "n/a", "NaN"]
    _text(d / "na.csv", "编码,值\n" + "".join(f"{i},{s}\n" for i, s in enumerate(sentinels)), "utf-8")
    cases.append(
        Case(
            "csv_na_sentinels_kept",
            {"kind": "csv", "path": "na.csv"},
            rows=10,
            checks=[_values("值", sentinels)],
        )
    )
    codes17 = ["00012", "12345678901234567", "1E5", "0x1F", "+86 021", "007.50"]
    _text(d / "codes.csv", "编码\n" + "".join(f"{c}\n" for c in codes17), "utf-8")
    cases.append(
        Case(
            "csv_codes_kept", {"kind": "csv", "path": "codes.csv"}, rows=6, checks=[_values("编码", codes17)]
        )
    )
    numbers = ["1,234.5 kg", "12,5", "３４５", "1.2e3", " 42 ", "¥1,000"]
    _text(d / "units.csv", "数量\n" + "".join(f'"{n}"\n' for n in numbers), "utf-8")
    cases.append(
        Case(
            "csv_numbers_with_units",
            {"kind": "csv", "path": "units.csv"},
            rows=6,
            checks=[_values("数量", numbers)],
        )
    )
    dates = ["2024-02-30", "03/04/2024", "2024/13/01", "20240305", "2024年3月5日", "45351"]
    _text(d / "dates.csv", "日期\n" + "".join(f"{v}\n" for v in dates), "utf-8")
    cases.append(
        Case(
            "csv_impossible_and_ambiguous_dates",
            {"kind": "csv", "path": "dates.csv"},
            rows=6,
            checks=[_values("日期", dates)],
        )
    )
    _text(d / "dupes.csv", "编码,名称\n001,a\n001,a\n001,b\n", "utf-8")
    cases.append(Case("csv_duplicate_keys_all_staged", {"kind": "csv", "path": "dupes.csv"}, rows=3))
    _text(d / "dupheader.csv", "编码,编码,Ｎａｍｅ,\u00a0名称\u00a0\n1,2,3,4\n", "utf-8")
    cases.append(
        Case(
            "csv_duplicate_and_fullwidth_headers",
            {"kind": "csv", "path": "dupheader.csv"},
            rows=1,
            checks=[
                lambda rows: _eq(
                    (rows[0]["编码"], rows[0]["编码_2"], rows[0]["name"], rows[0]["名称"]),
                    ("1", "2", "3", "4"),
                )
            ],
        )
    )
    _text(d / "title.csv", "质检记录导出\n导出时间 2024-03-01\n编码,结果\n1,合格\n", "utf-8")
    cases.append(
        Case(
            "csv_header_row_declared",
            {"kind": "csv", "path": "title.csv", "header_row": 3},
            rows=1,
            checks=[_values("结果", ["合格"]), lambda rows: _eq(rows[0]["_row"], 4)],
        )
    )
    _text(d / "total.csv", "编码,数量\n1,5\n\n2,6\n合计,11\n制表: 张三\n", "utf-8")
    cases.append(
        Case(
            "csv_stop_at_total",
            {"kind": "csv", "path": "total.csv", "stop_at": "^合计", "chunk_size": 2},
            rows=2,
            skipped={"empty_row": 1, "stop_row": 1, "after_stop": 1},
            checks=[_values("数量", ["5", "6"])],
        )
    )
    _text(d / "empty.csv", "", "utf-8")
    cases.append(Case("csv_empty", {"kind": "csv", "path": "empty.csv"}, error=r"^empty\.csv is empty"))
    _text(d / "headeronly.csv", "编码,名称\n", "utf-8")
    cases.append(Case("csv_header_only", {"kind": "csv", "path": "headeronly.csv"}, rows=0))
    (d / "badbytes.csv").write_bytes("编码,名称\n1,好\n".encode() + b"2,\xff\xfe\xfd\n")
    cases.append(
        Case(
            "csv_invalid_utf8",
            {"kind": "csv", "path": "badbytes.csv", "encoding": "utf-8"},
            error=r"^badbytes\.csv, line 3: bytes that are not valid utf-8",
        )
    )
    _text(d / "ragged.csv", "a,b\n1,2\n3,4,5,6\n", "utf-8")
    cases.append(
        Case(
            "csv_ragged_row",
            {"kind": "csv", "path": "ragged.csv"},
            error=r"^ragged\.csv: not a well-formed delimited file \(.*line 3",
        )
    )
    _text(d / "onemore.csv", "a,b\n1,2\n3,4\n5,6,7\n", "utf-8")
    cases.append(
        Case(
            "csv_one_field_too_many",
            {"kind": "csv", "path": "onemore.csv"},
            error=r"^onemore\.csv, line 4: more fields than the header's 2",
        )
    )
    _text(d / "short.csv", "a,b,c\n1\n2,3\n", "utf-8")
    cases.append(
        Case(
            "csv_short_rows_padded",
            {"kind": "csv", "path": "short.csv"},
            rows=2,
            checks=[_values("c", [None, None]), _values("b", [None, "3"])],
        )
    )
    cases.append(
        Case(
            "csv_unknown_encoding",
            {"kind": "csv", "path": "short.csv", "encoding": "klingon"},
            error=r"unknown encoding 'klingon'",
        )
    )
    return cases


def _eq(got, expected) -> None:
    assert got == expected, f"{got!r} != {expected!r}"


# ---------------------------------------------------------------- workbooks


def workbook_cases(d: Path) -> list[Case]:
    cases = []
    when = [
        ["日期", "时间"],
        [dt.date(2024, 3, 5), dt.datetime(2024, 3, 5, 8, 30, 15)],
        [dt.date(1904, 1, 2), dt.datetime(2000, 1, 1)],
    ]
    for epoch in (False, True):
        name = f"xlsx_dates_{1904 if epoch else 1900}"
        _xlsx(d / f"{name}.xlsx", {"S": when}, epoch_1904=epoch)
        cases.append(
            Case(
                name,
                {"kind": "xlsx", "path": f"{name}.xlsx"},
                rows=2,
                checks=[
                    _values("日期", ["2024-03-05", "1904-01-02"]),
                    _values("时间", ["2024-03-05 08:30:15", "2000-01-01"]),
                ],
            )
        )
    _xlsx(
        d / "serial.xlsx",
        {"S": [["日期", "数"], [45356, 45356]]},
        setup=lambda wb: setattr(wb["S"]["A2"], "number_format", "yyyy-mm-dd"),
    )
    cases.append(
        Case(
            "xlsx_serial_formatted_as_date",
            {"kind": "xlsx", "path": "serial.xlsx"},
            rows=1,
            checks=[_values("日期", ["2024-03-05"]), _values("数", ["45356"])],
        )
    )
    texts = [
        ["编码", "长码", "值"],
        ["00123", "12345678901234567", "NA"],
        ["0", "99999999999999999", "N/A"],
        ["007", "1E5", "NULL"],
    ]
    _xlsx(d / "texts.xlsx", {"S": texts})
    cases.append(
        Case(
            "xlsx_leading_zeros_long_codes_na",
            {"kind": "xlsx", "path": "texts.xlsx"},
            rows=3,
            checks=[
                _values("编码", ["00123", "0", "007"]),
                _values("长码", ["12345678901234567", "99999999999999999", "1E5"]),
                _values("值", ["NA", "N/A", "NULL"]),
            ],
        )
    )
    nums = [["数量"], [12.5], [3], [0.1], [-7.25], [1e15], [True]]
    _xlsx(d / "nums.xlsx", {"S": nums})
    cases.append(
        Case(
            "xlsx_numbers_as_text",
            {"kind": "xlsx", "path": "nums.xlsx"},
            rows=6,
            checks=[_values("数量", ["12.5", "3", "0.1", "-7.25", "1000000000000000", "TRUE"])],
        )
    )
    _xlsx(d / "formula.xlsx", {"S": [["a", "b", "c"], [1, "=A2*2", "=A2+1"]]})
    _patch(
        d / "formula.xlsx",
        SHEET1,
        lambda b: b.replace(b"<f>A2*2</f><v></v>", b"<f>A2*2</f><v>2</v>").replace(
            b"<f>A2*2</f><v />", b"<f>A2*2</f><v>2</v>"
        ),
    )
    cases.append(
        Case(
            "xlsx_formulas_cached_and_not",
            {"kind": "xlsx", "path": "formula.xlsx"},
            rows=1,
            checks=[_values("b", ["2"]), _values("c", [None])],
            warnings=r"formula\.xlsx, sheet S, row 2, column C: formula without a cached value",
        )
    )

    def merged_data(wb):
        wb["S"].merge_cells("A2:A4")

    _xlsx(
        d / "mergeddata.xlsx",
        {"S": [["日期", "批次"], ["2024-03-01", "L1"], [None, "L2"], [None, "L3"]]},
        setup=merged_data,
    )
    cases.append(
        Case(
            "xlsx_merged_data_value_in_top_left_cell",
            {"kind": "xlsx", "path": "mergeddata.xlsx"},
            rows=3,
            checks=[_values("日期", ["2024-03-01", None, None])],
            warnings=r"sheet S: merged cells A2:A4: the value is staged in the top-left cell only",
        )
    )
    cases.append(
        Case(
            "xlsx_merged_data_cells_filled",
            {"kind": "xlsx", "path": "mergeddata.xlsx", "fill_merged": True},
            rows=3,
            checks=[_values("日期", ["2024-03-01"] * 3)],
            warnings=r"sheet S: merged cells A2:A4 filled from their top-left cell",
        )
    )

    def merged_header(wb):
        ws = wb["S"]
        ws.merge_cells("A1:C1")
        ws.merge_cells("B2:C2")
        ws.merge_cells("A2:A3")

    _xlsx(
        d / "mergedheader.xlsx",
        {"S": [["物料主数据"], ["编码", "数量"], [None, "合格", "不合格"], ["M1", 5, 1]]},
        setup=merged_header,
    )
    cases.append(
        Case(
            "xlsx_merged_two_row_header",
            {"kind": "xlsx", "path": "mergedheader.xlsx", "header_row": 2, "header_rows": 2},
            rows=1,
            checks=[_values("数量 合格", ["5"]), _values("数量 不合格", ["1"]), _values("编码", ["M1"])],
        )
    )
    _xlsx(
        d / "title.xlsx",
        {"S": [["供应商清单"], ["导出: 2024-03-01"], [], ["编码", "名称", "国家"], ["S1", "甲", "CN"]]},
    )
    cases.append(
        Case(
            "xlsx_title_rows_detected",
            {"kind": "xlsx", "path": "title.xlsx"},
            rows=1,
            skipped={"above_header": 2},
            checks=[_lineage([("S", 5)])],
        )
    )
    _xlsx(
        d / "total.xlsx", {"S": [HEADER, ["1", "a", 1], ["2", "b", 2], ["合计", None, 3], ["制表人: 张三"]]}
    )
    cases.append(
        Case(
            "xlsx_stop_at_total",
            {"kind": "xlsx", "path": "total.xlsx", "stop_at": "^(合计|Total)"},
            rows=2,
            skipped={"stop_row": 1, "after_stop": 1},
        )
    )
    cases.append(
        Case("xlsx_total_row_staged_without_stop_at", {"kind": "xlsx", "path": "total.xlsx"}, rows=4)
    )

    def hide_rows(wb):
        wb["S"].row_dimensions[3].hidden = True

    _xlsx(d / "hiddenrows.xlsx", {"S": BASIC}, setup=hide_rows)
    cases.append(
        Case(
            "xlsx_hidden_rows_reported",
            {"kind": "xlsx", "path": "hiddenrows.xlsx"},
            rows=1,
            skipped={"hidden_row": 1},
            checks=[_lineage([("S", 2)])],
        )
    )
    cases.append(
        Case(
            "xlsx_hidden_rows_on_request",
            {"kind": "xlsx", "path": "hiddenrows.xlsx", "include_hidden": True},
            rows=2,
        )
    )
    _xlsx(d / "monthly.xlsx", {"2024-01": BASIC, "2024-02": BASIC[:2], "说明": [["本文件为导出"]]})
    cases.append(
        Case(
            "xlsx_sheet_pattern_monthly",
            {"kind": "xlsx", "path": "monthly.xlsx", "sheet_pattern": r"^\d{4}-\d{2}$"},
            rows=3,
            checks=[_lineage([("2024-01", 2), ("2024-01", 3), ("2024-02", 2)])],
        )
    )
    cases.append(
        Case("xlsx_sheets_listed", {"kind": "xlsx", "path": "monthly.xlsx", "sheets": ["2024-02"]}, rows=1)
    )
    _xlsx(d / "dimension.xlsx", {"S": BASIC * 1 + [["003", "垫圈", 9]]})
    _patch(
        d / "dimension.xlsx",
        SHEET1,
        lambda b: re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1"/>', b),
    )
    cases.append(Case("xlsx_wrong_dimension_ref", {"kind": "xlsx", "path": "dimension.xlsx"}, rows=3))
    _xlsx(d / "gaps.xlsx", {"S": [["编码", None, "数量"], ["1", "x", 5], ["2", None, 6, "extra"]]})
    cases.append(
        Case(
            "xlsx_empty_header_cell_and_extra_column",
            {"kind": "xlsx", "path": "gaps.xlsx"},
            rows=2,
            checks=[_values("column_b", ["x", None]), _values("column_d", [None, "extra"])],
        )
    )
    _xlsx(d / "emptysheet.xlsx", {"S": [], "T": BASIC})
    cases.append(
        Case(
            "xlsx_empty_sheet",
            {"kind": "xlsx", "path": "emptysheet.xlsx"},
            rows=2,
            warnings=r"sheet S: empty sheet",
        )
    )
    wide = [[f"列{i}" for i in range(200)], [str(i) for i in range(200)]]
    _xlsx(d / "wide.xlsx", {"S": wide})
    cases.append(
        Case(
            "xlsx_200_columns",
            {"kind": "xlsx", "path": "wide.xlsx"},
            rows=1,
            checks=[_values("列199", ["199"])],
        )
    )
    _xlsx(d / "errors.xlsx", {"S": [["a", "b"], ["#DIV/0!", "#N/A"]]})
    cases.append(
        Case(
            "xlsx_error_texts",
            {"kind": "xlsx", "path": "errors.xlsx"},
            rows=1,
            checks=[_values("a", ["#DIV/0!"]), _values("b", ["#N/A"])],
        )
    )
    _xlsx(d / "whitespace.xlsx", {"S": [[" 编码 ", "名称\u00a0"], [" 001 ", "a\u00a0"]]})
    cases.append(
        Case(
            "xlsx_whitespace_kept_in_values",
            {"kind": "xlsx", "path": "whitespace.xlsx"},
            rows=1,
            checks=[_values("编码", [" 001 "]), _values("名称", ["a\u00a0"])],
        )
    )
    xls_rows = [
        ["供应商编码", "日期", "评分"],
        ["000123", dt.date(2024, 2, 29), 95.5],
        ["12345678901234567", None, "NA"],
    ]
    _xls(d / "legacy.xls", xls_rows, hidden_sheet=True)
    cases.append(
        Case(
            "xls_values_and_dates",
            {"kind": "xls", "path": "legacy.xls"},
            rows=2,
            checks=[
                _values("供应商编码", ["000123", "12345678901234567"]),
                _values("日期", ["2024-02-29", None]),
                _values("评分", ["95.5", "NA"]),
            ],
            warnings=r"sheet hidden: hidden, left out",
        )
    )
    return cases


def build(directory: Path) -> list[Case]:
    directory.mkdir(parents=True, exist_ok=True)
    return [
        *container_cases(directory),
        *bomb_cases(directory),
        *text_cases(directory),
        *workbook_cases(directory),
    ]


if __name__ == "__main__":
    built = build(Path(sys.argv[1] if len(sys.argv) > 1 else "corpus"))
    print(f"{len(built)} cases, {len({c.spec.get('path') for c in built})} files")
