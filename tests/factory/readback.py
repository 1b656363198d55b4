"""Read the generated sources back with the libraries a user's Excel/CSV/SQL tools would use."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path
from typing import Any

import openpyxl
import xlrd

HEADER_ROWS = {"materials": (2, 3)}  # rows holding the header; the rest start at row 1


def _blank(value: Any) -> Any:
    return None if value == "" else value


class Sheet:
    """One sheet/CSV/table as physical rows: `cell(row, column_name)` with 1-based rows."""

    def __init__(self, header: list[str], rows: dict[int, list[Any]]) -> None:
        self.header = header
        self.rows = rows

    def cell(self, row: int, column: str) -> Any:
        return _blank(self.rows[row][self.header.index(column)])

    def data_rows(self, first: int) -> int:
        """Rows a correct extract stages: non-empty, not a 合计 total."""
        count = 0
        for r, values in self.rows.items():
            if r < first or all(_blank(v) is None for v in values):
                continue
            if isinstance(values[0], str) and values[0].startswith("合计"):
                continue
            count += 1
        return count


def open_source(root: Path, source: dict[str, Any], sheet: str | None, name: str) -> Sheet:
    path = root / source["file"]
    if source["kind"] == "xlsx":
        ws = openpyxl.load_workbook(path, read_only=True, data_only=True)[sheet]
        rows = {i: list(r) for i, r in enumerate(ws.iter_rows(values_only=True), start=1)}
        return Sheet(_header(rows, HEADER_ROWS.get(name, (1,))), rows)
    if source["kind"] == "xls":
        ws = xlrd.open_workbook(str(path)).sheet_by_name(sheet)
        rows = {i + 1: ws.row_values(i) for i in range(ws.nrows)}
        return Sheet(_header(rows, (1,)), rows)
    if source["kind"] == "csv":
        encoding = "gb18030" if "质检" in source["file"] else "utf-8-sig"
        with path.open(encoding=encoding, newline="") as fh:
            rows = {i: r for i, r in enumerate(csv.reader(fh), start=1)}
        return Sheet(rows[1], rows)
    db = sqlite3.connect(path)
    try:
        cursor = db.execute(f"SELECT * FROM {source['table']} ORDER BY 1")
        header = [d[0] for d in cursor.description]
        rows = {i: list(r) for i, r in enumerate(cursor.fetchall(), start=1)}
    finally:
        db.close()
    return Sheet(header, rows)


def first_data_row(source: dict[str, Any], name: str) -> int:
    if source["kind"] == "sql":
        return 1
    return HEADER_ROWS.get(name, (1,))[-1] + 1


def _header(rows: dict[int, list[Any]], header_rows: tuple[int, ...]) -> list[str]:
    """Merged headers: the lowest non-empty text of each column wins (leaf under its group)."""
    width = len(rows[header_rows[0]])
    names: list[str] = [""] * width
    for r in header_rows:
        for c, value in enumerate(rows[r][:width]):
            if value not in (None, ""):
                names[c] = str(value)
    return names
