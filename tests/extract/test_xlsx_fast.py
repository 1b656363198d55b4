"""The xlsx fast path (fastexcel -> Arrow text, column-wise layout) stages exactly what the
cell-typed calamine path stages, for every kind of cell and every layout option, and hands a
sheet back to calamine whenever a cell's text alone cannot say what calamine would stage."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest

from migrate.extract import extract
from migrate.extract.guards import check_zip
from migrate.extract.readers import cell_text, fast
from tests.extract.helpers import make_project, staged

LINEAGE_NOISE = ("_row_id", "_run")


def _both_paths(tmp_path: Path, monkeypatch, spec: dict) -> tuple:
    """(fast result, fast rows, calamine result, calamine rows) for one source `s`."""
    project = make_project(tmp_path, {"s": spec})
    quick = extract(project, force=True).sources[0]
    quick_rows = staged(project, "s")
    with monkeypatch.context() as patch:
        patch.setattr(fast, "read_fast", lambda *args: None)
        typed = extract(project, force=True).sources[0]
    typed_rows = staged(project, "s")
    return quick, _clean(quick_rows), typed, _clean(typed_rows)


def _clean(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in LINEAGE_NOISE} for r in rows]


def _assert_same(tmp_path, monkeypatch, spec: dict, reader: str) -> list[dict]:
    quick, quick_rows, typed, typed_rows = _both_paths(tmp_path, monkeypatch, spec)
    assert typed.reader == "calamine"
    assert quick.reader == reader
    assert quick_rows == typed_rows
    assert (quick.rows, quick.sheets, quick.skipped, quick.warnings) == (
        typed.rows,
        typed.sheets,
        typed.skipped,
        typed.warnings,
    )
    return quick_rows


FIXABLE = {
    "int": [1, 42, -7],
    "float": [0.1 + 0.2, 12.5, 12345678.9],
    "neg_zero": [-0.0, 0.5, 3.0],
    "long_text": ["12345678901234567", "00123", "0042"],
    "bool": [True, False, True],
    "date": [dt.date(2024, 2, 29), dt.datetime(2024, 1, 5), dt.date(1999, 12, 31)],
    "big": [1e21, 1e-7, 2.5e-5],
    "datetime": [dt.datetime(2024, 1, 5, 13, 30, 15), dt.datetime(2023, 6, 1, 0, 0, 1), None],
    "empty": ["", None, "x"],
    "na": ["NA", "N/A", "NULL"],
    "spaces": [" x ", "\u00a0y", "全角　"],
    "formula": ["=1+1", "=B2*2", '="a"&"b"'],
}


def _sheet(path: Path, columns: dict, epoch_1904: bool = False) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(columns))
    for values in zip(*columns.values(), strict=True):
        ws.append(list(values))
    if epoch_1904:
        wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    wb.save(path)


@pytest.mark.parametrize("epoch_1904", [False, True])
def test_every_fixable_cell_kind_stages_as_calamine_does(tmp_path, monkeypatch, epoch_1904):
    _sheet(tmp_path / "k.xlsx", FIXABLE, epoch_1904)
    rows = _assert_same(tmp_path, monkeypatch, {"kind": "xlsx", "path": "k.xlsx"}, "fastexcel")
    assert [r["bool"] for r in rows] == ["TRUE", "FALSE", "TRUE"]
    assert [r["date"] for r in rows] == ["2024-02-29", "2024-01-05", "1999-12-31"]
    assert [r["neg_zero"] for r in rows] == ["0", "0.5", "3"]
    assert [r["formula"] for r in rows] == [None, None, None]  # openpyxl writes no cached value


@pytest.mark.parametrize(
    "column",
    [
        [dt.time(13, 45), dt.time(0, 0, 1), None],
        [dt.timedelta(days=2, hours=3), dt.timedelta(hours=5), None],
        [dt.datetime(2024, 1, 5, 13, 30, 15, 500000), None, None],
        [dt.date(1900, 1, 1), None, None],
        [1.0, "text", 3.0],
        [1.0, True, 3.0],
        [2.0**64, 1.0, 2.0],
    ],
    ids=["time", "duration", "milliseconds", "1900", "number-and-text", "number-and-bool", "int-past-int64"],
)
def test_columns_whose_text_needs_each_cell_go_to_calamine(tmp_path, monkeypatch, column):
    _sheet(tmp_path / "k.xlsx", {"a": column, "b": ["x", "y", "z"]})
    _assert_same(tmp_path, monkeypatch, {"kind": "xlsx", "path": "k.xlsx"}, "calamine")


@pytest.mark.parametrize("text", ["true", "FALSE", "-0", "2024-01-05 00:00:00", "0.3", "1e+21"])
def test_a_text_that_reads_like_a_typed_cell_is_kept_as_written(tmp_path, monkeypatch, text):
    columns = {
        "text": [text, "b", "c"],
        "date": [dt.date(2024, 1, 5)] * 3,
        "flag": [True, False, True],
        "qty": [-0.0, 0.1 + 0.2, 1e21],
    }
    _sheet(tmp_path / "k.xlsx", columns)
    rows = _assert_same(tmp_path, monkeypatch, {"kind": "xlsx", "path": "k.xlsx"}, "fastexcel")
    assert rows[0]["text"] == text
    assert [r["qty"] for r in rows][::2] == ["0", "1e+21"]


def _layout_book(path: Path, title: bool = False) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2024-03"
    if title:
        ws["A1"] = "批次台账 2024年3月"  # a title row above the header
    ws.append(["批次号", "物料编码", "数量", "生产日期", "备注"])
    ws.append(["L001", "00123", 12.5, dt.date(2024, 3, 5), "NA"])
    ws.append(["L002", "12345678901234567", 3, dt.datetime(2024, 3, 5, 8, 30), None, "extra"])
    ws.append(["L003", "0042", 7, None, "N/A"])
    ws.row_dimensions[4].hidden = True
    ws.append([])
    ws.append(["L004", None, 1])
    ws.append(["合计", None, 22.5])
    ws.append(["备注: 手工录入"])
    ws.append(["L999", None, None, None, None, None, None, "after the total"])
    second = wb.create_sheet("2024-04")
    second.append(["批次号", "物料编码 ", "ＱＴＹ", "生产日期", "备注"])
    for i in range(300):  # past the rows SheetLayout sees
        second.append([f"L{i:04d}", f"{i:06d}", i, dt.date(2024, 4, 1 + i % 28), None])
    second.row_dimensions[150].hidden = True
    wb.save(path)


@pytest.mark.parametrize(
    "options",
    [
        {"stop_at": "^合计"},
        {"stop_at": "^合计", "include_hidden": True, "skip_empty_rows": False},
        {},
        {"header_row": 2},
    ],
)
def test_layout_options_stage_as_sheet_layout_does(tmp_path, monkeypatch, options):
    _layout_book(tmp_path / "lots.xlsx")
    spec = {"kind": "xlsx", "path": "lots.xlsx", "sheet_pattern": r"^\d{4}-\d{2}$", **options}
    rows = _assert_same(tmp_path, monkeypatch, spec, "fastexcel")
    assert any(r.get("column_f") == "extra" for r in rows)


def test_title_rows_above_the_header_stage_as_sheet_layout_does(tmp_path, monkeypatch):
    """The title row becomes fastexcel's header and the real header mixes texts into numeric
    columns: fastexcel refuses, calamine reads the sheet."""
    _layout_book(tmp_path / "lots.xlsx", title=True)
    spec = {"kind": "xlsx", "path": "lots.xlsx", "sheet": "2024-03", "stop_at": "^合计"}
    _assert_same(tmp_path, monkeypatch, spec, "calamine")


def test_two_header_rows_and_header_far_down(tmp_path, monkeypatch):
    wb = openpyxl.Workbook()
    ws = wb.active
    for _ in range(260):
        ws.append([])
    ws.append(["编码", "数量"])
    ws.append(["code", "qty"])
    ws.append(["001", "2"])
    wb.save(tmp_path / "far.xlsx")
    for spec in ({"header_row": 261, "header_rows": 2}, {"header_row": 261}, {}):
        _assert_same(tmp_path, monkeypatch, {"kind": "xlsx", "path": "far.xlsx", **spec}, "fastexcel")


def _raw_xlsx(path: Path, sheet_data: str, shared: list[str] = ()) -> None:
    """A workbook written part by part: inline strings, cells placed anywhere."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        "_rels/.rels": f'<?xml version="1.0"?><Relationships xmlns="{pkg}"><Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook xmlns="{main}" xmlns:r="{rel}"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0"?><Relationships xmlns="{pkg}"><Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        "xl/sharedStrings.xml": f'<?xml version="1.0"?><sst xmlns="{main}">'
        + "".join(f"<si><t>{s}</t></si>" for s in shared)
        + "</sst>",
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0"?><worksheet xmlns="{main}"><sheetData>{sheet_data}</sheetData></worksheet>',
    }
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in parts.items():
            zf.writestr(name, text)


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


HEADER = _inline("A3", "编码") + _inline("B3", "数量")


@pytest.mark.parametrize(
    ("data", "reader"),
    [
        # header on row 3, rows 1-2 hold only styled empty cells and an empty formula
        (
            '<row r="1"><c r="A1" s="1"/></row><row r="2"><c r="B2"><f>1+1</f><v></v></c></row>'
            f'<row r="3">{HEADER}</row><row r="5">{_inline("A5", "001")}<c r="B5"><v>2</v></c></row>',
            "fastexcel",
        ),
        # nothing filled in column A: fastexcel's first column would be B
        (f'<row r="3">{_inline("B3", "编码")}</row><row r="4"><c r="B4"><v>1</v></c></row>', "calamine"),
        # an empty inline string counts as a filled cell for calamine: the first row is row 1
        (
            f'<row r="1">{_inline("A1", "")}</row><row r="3">{HEADER}</row>'
            f'<row r="4">{_inline("A4", "7")}</row>',
            "fastexcel",
        ),
        # cells without a reference before the first placed one: the guard cannot place them
        (f'<row><c t="inlineStr"><is><t>a</t></is></c></row><row r="3">{HEADER}</row>', "calamine"),
        # ... after it: they follow the placed cells, the start row and column stand
        (f'<row r="3">{HEADER}</row><row r="4"><c><v>1</v></c><c><v>2</v></c></row>', "fastexcel"),
        # an error cell: staged as the text Excel shows, by the calamine path
        (f'<row r="3">{HEADER}</row><row r="4"><c r="A4" t="e"><v>#N/A</v></c></row>', "calamine"),
        # shared strings, one of them empty
        (
            '<row r="3"><c r="A3" t="s"><v>0</v></c><c r="B3" t="s"><v>1</v></c></row>'
            '<row r="4"><c r="A4" t="s"><v>2</v></c><c r="B4" t="b"><v>1</v></c></row>',
            "fastexcel",
        ),
    ],
    ids=[
        "rows-above",
        "no-column-a",
        "empty-inline",
        "no-refs-first",
        "no-refs-later",
        "error-cell",
        "shared",
    ],
)
def test_cell_placement_matches_calamine(tmp_path, monkeypatch, data, reader):
    _raw_xlsx(tmp_path / "r.xlsx", data, shared=["编码", "数量", ""])
    _assert_same(tmp_path, monkeypatch, {"kind": "xlsx", "path": "r.xlsx"}, reader)


def test_guard_places_the_first_filled_cell(tmp_path):
    _raw_xlsx(tmp_path / "r.xlsx", f'<row r="1"><c r="A1" s="1"/></row><row r="3">{HEADER}</row>')
    sheet = check_zip(tmp_path / "r.xlsx", "r.xlsx").parts["xl/worksheets/sheet1.xml"]
    assert (sheet.first_row, sheet.column_a, sheet.plain_cells) == (3, True, True)
    _raw_xlsx(tmp_path / "q.xlsx", '<row r="2"><c r="B2"><v>1</v></c><c r="C2" t="s"><v>0</v></c></row>')
    sheet = check_zip(tmp_path / "q.xlsx", "q.xlsx").parts["xl/worksheets/sheet1.xml"]
    assert (sheet.first_row, sheet.column_a) == (2, False)


VALUES = ["0.30000000000000004", "1E+18", "123456789012345680", "1.5E-3", "-0", "1E+21", "1E-7"]
VALUES += ["123456789012345.6", "0.3333333333333333", "-12.5"]


def test_float_text_is_the_shortest_round_trip(tmp_path, monkeypatch):
    """fastexcel's own float text keeps 9 decimals ("0.3"); ours is Python's repr, as calamine's."""
    cells = "".join(f'<row r="{r}"><c r="A{r}"><v>{v}</v></c></row>' for r, v in enumerate(VALUES, 4))
    _raw_xlsx(tmp_path / "f.xlsx", f'<row r="3">{HEADER}</row>{cells}', shared=[])
    rows = _assert_same(tmp_path, monkeypatch, {"kind": "xlsx", "path": "f.xlsx"}, "fastexcel")
    assert [r["编码"] for r in rows] == [
        "0.30000000000000004",
        "1000000000000000000",
        "123456789012345680",
        "0.0015",
        "0",
        "1e+21",
        "1e-07",
        "123456789012345.6",
        "0.3333333333333333",
        "-12.5",
    ]


def test_chunks_inserted_in_the_background_keep_order_and_errors(tmp_path, monkeypatch):
    """Arrow chunks go to SQLite from a background thread: rows stay in order, and a full store
    fails the run with the usual message, the previous rows kept whole."""
    from sqlalchemy import event

    from migrate.errors import MigrateError
    from migrate.store import WorkStore

    wb = openpyxl.Workbook()
    wb.active.append(["编码", "数量", "备注"])
    wb.save(tmp_path / "b.xlsx")
    store_file = tmp_path / "store.db"
    spec = {"kind": "xlsx", "path": "b.xlsx", "chunk_size": 7}
    project = make_project(tmp_path, {"s": spec}, staging=f"sqlite:///{store_file}")
    assert extract(project).sources[0].rows == 0
    for i in range(3000):
        wb.active.append([f"{i:06d}", i / 3, "x" * 200])
    wb.save(tmp_path / "b.xlsx")
    full = WorkStore(f"sqlite:///{store_file}")
    event.listen(full.engine, "connect", lambda conn, _: conn.execute("PRAGMA max_page_count=60"))
    with pytest.raises(MigrateError, match="cannot write the work store .*full"):
        extract(project, store=full)
    full.dispose()
    assert staged(project, "s") == []  # the previous (empty) rows, whole
    rows = _assert_same(tmp_path, monkeypatch, {**spec, "chunk_size": 7}, "fastexcel")
    assert [r["_row"] for r in rows] == list(range(2, 3002))
    assert rows[1]["数量"] == repr(1 / 3)


def test_typed_header_cells_stage_as_calamine_does(tmp_path, monkeypatch):
    """fastexcel names a date or boolean header cell as if it were empty, and shortens a float
    one: the guard's look at the header row keeps the text calamine gives."""
    for i, header in enumerate(
        [[dt.date(2024, 1, 1), "b"], [True, "b"], [0.1 + 0.2, 2024, "b"], ["a", None, "c"]]
    ):
        wb = openpyxl.Workbook()
        wb.active.append(header)
        wb.active.append(["x"] * len(header))
        wb.save(tmp_path / f"h{i}.xlsx")
        expected = "calamine" if i < 2 else "fastexcel"
        _assert_same(tmp_path, monkeypatch, {"kind": "xlsx", "path": f"h{i}.xlsx"}, expected)
    raw = '<row r="1"><c r="A1"><v>0.30000000000000004</v></c><c r="B1"><v>1E+21</v></c></row>'
    _raw_xlsx(tmp_path / "f.xlsx", raw + f'<row r="2">{_inline("A2", "x")}</row>')
    rows = _assert_same(tmp_path, monkeypatch, {"kind": "xlsx", "path": "f.xlsx"}, "fastexcel")
    assert list(rows[0])[4:] == ["0.30000000000000004", "1e+21"]


def test_float_text_equals_cell_text_over_every_magnitude():
    """The vectorised float -> text against cell_text, value by value, 1e-12 .. 1e25."""
    import random

    import pyarrow as pa

    rng = random.Random(11)
    values = [0.0, -0.0, 1e-4, 9.999e-5, 1e9, 1e16, 2.0**53, 2.0**63 - 1024, 1e21, 5e-324]
    for _ in range(40_000):
        value = rng.random() * 10 ** rng.uniform(-12, 25) * rng.choice([1, -1])
        values += [value, round(value, rng.randrange(0, 8)), float(int(value)) if abs(value) < 9e18 else 1.5]
    # integers from 2**63 up to 1e21 are left to calamine (test_columns_whose_text_needs_...)
    values = [v for v in values if not (v.is_integer() and 2.0**63 <= abs(v) < 1e21)]
    texts = fast._float_text(pa.array(values, pa.float64())).to_pylist()
    assert [t for t, v in zip(texts, values, strict=True) if t != cell_text(v)] == []
