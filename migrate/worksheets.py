"""Worksheets people work from: formula-safe cells, a bold frozen header, an autofilter,
column widths fitted to the content, and tables split across sheets past Excel's row limit.

Formula-safe (docs/guarantees.md#safe-reports): openpyxl writes a string starting with `=` as a live formula; every
text cell here is typed as a string, so `=HYPERLINK(...)`, `+1`, `-5 kg` or `@SUM(...)` from
legacy data reaches the reader as the text it was. Sheets are written in openpyxl's write-only
mode: memory stays flat however many rows a worklist has.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

EXCEL_MAX_ROWS = 1_048_576  # rows in one sheet, the header included
FIT_SAMPLE = 1_000  # rows looked at to fit the column widths
MAX_WIDTH = 60
_BOLD = Font(bold=True)


def text_cell(ws, value: Any, *, bold: bool = False) -> WriteOnlyCell:
    if isinstance(value, dict | list | tuple):
        value = str(value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
    if bold:
        cell.font = _BOLD
    return cell


def write_table(
    book: Workbook,
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    row_limit: int = EXCEL_MAX_ROWS,
    before: Sequence[Sequence[Any]] = (),
) -> int:
    """`header` and `rows` in sheet `title`, continued in `title (2)`, `title (3)`... once a
    sheet holds `row_limit` rows. `before`: lines above the table on the first sheet (a
    summary's facts). Returns the number of data rows written."""
    rows = iter(rows)
    written, part, lines = 0, 1, before
    while True:
        room = row_limit - 1 - len(lines)
        if room < 1:
            raise ValueError("row_limit leaves no room for data rows")
        name = title[:31] if part == 1 else f"{title[: 31 - len(f' ({part})')]} ({part})"
        count = _sheet(book, name, header, rows, room, lines)
        written += count
        following = next(rows, _END) if count == room else _END
        if following is _END:
            return written
        rows = chain([following], rows)  # a full sheet and more to come: the next part
        part, lines = part + 1, ()


_END = object()


def _sheet(book: Workbook, name: str, header, rows: Iterator, room: int, before) -> int:
    """One sheet: lines `before`, the header, then up to `room` rows streamed from `rows`."""
    first = list(islice(rows, min(room, FIT_SAMPLE)))
    ws = book.create_sheet(name)
    _fit(ws, [*before, header, *first])
    top = len(before) + 1
    ws.freeze_panes = f"A{top + 1}"  # before the first row: write-only sheets stream their views first
    for line in before:
        ws.append([text_cell(ws, v, bold=i == 0) for i, v in enumerate(line)])
    ws.append([text_cell(ws, h, bold=True) for h in header])
    count = 0
    for row in chain(first, islice(rows, room - len(first))):
        ws.append([text_cell(ws, v) for v in row])
        count += 1
    ws.auto_filter.ref = f"A{top}:{get_column_letter(max(len(header), 1))}{top + count}"
    return count


def _fit(ws, lines: list) -> None:
    """Column widths from the longest text in the first rows (CJK characters count double)."""
    widths: dict[int, int] = {}
    for line in lines:
        for i, value in enumerate(line, start=1):
            widths[i] = max(widths.get(i, 0), _width(value))
    for i, width in widths.items():
        ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 6), MAX_WIDTH)


def _width(value: Any) -> int:
    if value is None:
        return 0
    text = str(value)
    return len(text) + sum(1 for ch in text if ord(ch) > 0x2E7F)


def frame_rows(frame, columns: Sequence[str]) -> Iterator[list[Any]]:
    """A DataFrame's rows as lists of plain values (NaN/NA as empty cells)."""
    values = frame[list(columns)].astype(object)
    values = values.where(values.notna(), None)
    yield from (list(r) for r in values.itertuples(index=False, name=None))
