"""Differential test (issue 17): every workbook the extract tests write (the T4 corpus and the
real-sheet cases), each sheet staged with default options, cell for cell against
python-calamine's own reading of that sheet. The differences the docs name are the only ones
allowed: error cells (calamine gives them empty, we stage the text Excel shows), numbers in
date-formatted cells that are no date (calamine gives a time of day for -1), and merged ranges
when `fill_merged` is declared (never here: defaults only)."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from pathlib import Path

import pytest
import python_calamine as calamine
import yaml
from sqlalchemy import text

from migrate.extract import extract
from migrate.extract.formats import what_is
from migrate.extract.readers import cell_text, column_letter
from migrate.project import Project
from migrate.store import WorkStore
from tests.extract import corpus

BOOKS_DIR = Path(tempfile.mkdtemp(prefix="extract-differential-"))
atexit.register(shutil.rmtree, BOOKS_DIR, True)
_CASES = [c for c in corpus.build(BOOKS_DIR) if c.error is None and c.spec["kind"] in ("xlsx", "xls")]
BOOKS = sorted(
    {
        (c.spec["path"], c.spec["kind"])
        for c in _CASES
        if what_is((BOOKS_DIR / c.spec["path"]).read_bytes()[:4096], BOOKS_DIR / c.spec["path"])
        in ("xlsx", "ole2")
    }
)  # calamine's own formats (an HTML "xls" is read by readers/markup.py)
_ERROR = re.compile(r"^#(NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|N/A|GETTING_DATA)$")


def _grid(path: Path, sheet: str) -> dict[int, list]:
    """calamine's cells of a sheet as the texts we stage, by 1-based row, from column A."""
    ws = calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet)
    pad = [None] * (ws.start[1] if ws.start else 0)
    first = ws.start[0] if ws.start else 0
    return {
        first + i + 1: pad + [cell_text(v) for v in row]
        for i, row in enumerate(ws.to_python(skip_empty_area=False))
    }


def _staged_cells(root: Path, source: str) -> list[tuple[str, int, list]]:
    """(sheet, row, values in the staged table's column order) of every staged row."""
    store = WorkStore(Project(root).staging_url)
    try:
        with store.engine.connect() as c:
            result = c.execute(text(f'SELECT * FROM "stg_{source}" ORDER BY "_row_id"'))
            keys = list(result.keys())
            data = [k for k in keys if not k.startswith("_")]
            return [(r._mapping["_sheet"], r._mapping["_row"], [r._mapping[k] for k in data]) for r in result]
    finally:
        store.dispose()


@pytest.mark.parametrize(("book", "kind"), BOOKS)
def test_staged_cells_equal_calamines(tmp_path, book, kind):
    path = BOOKS_DIR / book
    names = [m.name for m in calamine.CalamineWorkbook.from_path(str(path)).sheets_metadata]
    sources = {f"s{i}": {"kind": kind, "path": str(path), "sheet": name} for i, name in enumerate(names)}
    (tmp_path / "project.yaml").write_text(
        yaml.safe_dump({"name": "d", "sources": sources}), encoding="utf-8"
    )
    project = Project(tmp_path)
    staged_rows = 0
    for source, spec in sources.items():
        result = extract(project, [source]).sources[0]
        odd = {
            w.split(", row ")[1].split(":")[0] for w in result.warnings if "is no date" in w
        }  # "3, column A"
        grid = _grid(path, spec["sheet"])
        for _sheet, row, values in _staged_cells(tmp_path, source):
            staged_rows += 1
            expected = grid.get(row, [])
            for c, got in enumerate(values):
                want = expected[c] if c < len(expected) else None
                if got == want:
                    continue
                documented = (want is None and got is not None and _ERROR.match(got)) or (
                    f"{row}, column {column_letter(c)}" in odd
                )
                assert documented, (
                    f"{book} [{spec['sheet']}] row {row} column {c + 1}: staged {got!r}, calamine {want!r}"
                )
    assert staged_rows > 0


def _xlsb_book(path: Path) -> None:
    import datetime as dt

    from pyxlsbwriter import XlsbWriter

    with XlsbWriter(str(path)) as writer:
        writer.add_sheet("批次")
        writer.write_sheet(
            [
                ["编码", "数量", "件数", "日期", "备注"],
                *[
                    [
                        f"{i:05d}",
                        i / 3 + 0.1,
                        i * 7,
                        dt.datetime(2024, 1, 1 + i % 28),
                        None if i % 4 else "x ",
                    ]
                    for i in range(60)
                ],
                [None, None, None, None, None],
                ["合计", 1e21, 2**20, dt.datetime(2024, 2, 1, 8, 30), "尾"],
            ]
        )


def _ods_book(path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "编码": [f"{i:04d}" for i in range(40)],
            "数量": [i / 4 - 3 for i in range(40)],
            "备注": [None if i % 3 else "尾随空格  " for i in range(40)],
        }
    )
    frame.to_excel(path, engine="odf", index=False, sheet_name="库存")


@pytest.mark.parametrize(("kind", "write"), [("xlsb", _xlsb_book), ("ods", _ods_book)])
def test_xlsb_and_ods_fast_path_stages_calamines_cells(tmp_path, kind, write):
    """.xlsb and .ods sheets go through the Arrow fast path (fastexcel), as plain xlsx sheets
    do, and stage exactly python-calamine's cells."""
    path = tmp_path / f"book.{kind}"
    write(path)
    sheet = calamine.CalamineWorkbook.from_path(str(path)).sheet_names[0]
    (tmp_path / "project.yaml").write_text(
        yaml.safe_dump({"name": "d", "sources": {"s": {"kind": kind, "path": path.name}}}), encoding="utf-8"
    )
    result = extract(Project(tmp_path)).sources[0]
    assert result.reader == "fastexcel"
    grid = _grid(path, sheet)
    staged = _staged_cells(tmp_path, "s")
    assert len(staged) == len([r for r in grid.values() if any(v is not None for v in r)]) - 1
    for _sheet, row, values in staged:
        assert values == (grid[row] + [None] * len(values))[: len(values)], row
