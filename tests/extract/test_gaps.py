"""Extract's remaining correctness gaps (issue 3): xls hidden rows, CSV title rows,
a sheet at Excel's row limit, and concurrent extracts."""

from __future__ import annotations

from migrate.extract import extract
from tests.extract.helpers import make_project, staged


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
