"""The rejects workbook is a worklist: one row per reject with the natural key, reason, message,
every reason of the row, lineage and the source's original values; knock-on rejects name their
parent's own reason; bold frozen header, autofilter, fitted widths."""

from __future__ import annotations

from openpyxl import load_workbook
from typer.testing import CliRunner

from migrate.cli.app import app
from tests.map import scenario
from tests.map.helpers import stage

TWICE_WRONG = {"批次": "L8", "物料": "M404", "数量": "-2", "生产": "", "有效": "", "入库": ""}


def test_rejects_workbook_is_a_worklist(tmp_path):
    root = scenario.build(tmp_path / "p")
    stage(root, "lots", [*scenario.LOTS, TWICE_WRONG])
    out = tmp_path / "rejects.xlsx"
    result = CliRunner().invoke(app, ["--project", str(root), "map", "--out", str(out)])
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    sheet = book["material_lot"]
    header = [c.value for c in sheet[1]]
    assert header[:10] == [
        "lot_no", "reason", "message", "all reasons", "column", "value", "source", "file", "sheet", "row"
    ]  # fmt: skip
    assert {"lots: 批次", "lots: 数量"} <= set(header)
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert len(rows) == 6  # five of the scenario and L8
    twice = rows["L8"]
    assert twice["reason"] == "negative_quantity"
    assert twice["all reasons"] == "negative_quantity, unknown_reference"
    assert (twice["file"], twice["row"], twice["lots: 数量"]) == ("lots.csv", 9, "-2")  # the original text
    knock_on = rows["L7"]
    assert knock_on["reason"] == "unknown_reference"
    assert knock_on["message"].endswith("material 'M003' was itself rejected: invalid_number")
    assert rows["L6"]["message"] == "material_code 'M404' is not a known material"  # no parent reject
    assert all(c.font.b for c in sheet[1]) and sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}7"
    assert sheet.column_dimensions["C"].width > 30  # the message column is fitted, not Excel's 8.43
    duplicates = [
        r for r in book["material"].iter_rows(min_row=2, values_only=True) if r[1] == "duplicate_key"
    ]
    assert [r[0] for r in duplicates] == ["M006", "M006"]
