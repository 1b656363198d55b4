"""Workbooks map writes for people: the quarantine of rejects, formula-safe.

openpyxl writes a Python string starting with `=` as a live formula; a legacy value such as
`=HYPERLINK(...)` or `-5 kg` must reach the consultant as the text it was. Every cell goes
through `safe_cell`, which forces such strings to be stored as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_START = ("=", "+", "-", "@")
QUARANTINE_COLUMNS = ("_source", "_file", "_sheet", "_row", "reason", "rule", "column", "value", "message")


def safe_cell(sheet: Worksheet, row: int, column: int, value: Any) -> None:
    cell = sheet.cell(row=row, column=column)
    cell.value = value
    if isinstance(value, str) and value.startswith(FORMULA_START):
        cell.data_type = "s"  # stored as a string, never evaluated as a formula


def safe_row(sheet: Worksheet, row: int, values: Iterable[Any]) -> None:
    for column, value in enumerate(values, start=1):
        safe_cell(sheet, row, column, value)


def write_quarantine(path: Path, rejects: Iterator[tuple[str, pd.DataFrame]]) -> int:
    """One sheet per entity listing its rejects with lineage, reason and message."""
    book = Workbook()
    book.remove(book.active)
    written = 0
    for entity, frame in rejects:
        sheet = book[entity] if entity in book.sheetnames else book.create_sheet(entity[:31])
        if sheet.max_row == 1 and sheet.cell(1, 1).value is None:
            safe_row(sheet, 1, QUARANTINE_COLUMNS)
            sheet.freeze_panes = "A2"
        start = sheet.max_row + 1
        for offset, values in enumerate(frame[list(QUARANTINE_COLUMNS)].itertuples(index=False)):
            safe_row(sheet, start + offset, [None if pd.isna(v) else v for v in values])
        written += len(frame)
    if not book.sheetnames:
        safe_row(book.create_sheet("rejects"), 1, ("no rejected rows",))
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return written
