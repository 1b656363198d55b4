"""Spreadsheet layout: find the header under title rows, flatten multi-row (merged) headers,
stop at a total row, skip empty and hidden rows, and count every row not staged by reason.

A merged range's value belongs to its top-left cell. Merges are filled inside the header rows
(a group name over its leaves names both columns) but not in data rows, unless the source
declares `fill_merged: true`: a vertical merge over three rows filled by default would make one
"R$ 12,6 M" count three times. Either way each merged range over data rows is reported."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from migrate.extract.readers import RawSheet, cell_text, column_letter

if TYPE_CHECKING:  # the project model (pydantic, SQLAlchemy) stays out of segment workers
    from migrate.project import SourceSpec

DETECT_ROWS = 30  # a header is looked for among the first non-empty rows


class SheetLayout:
    """One sheet read through the source's layout options; `chunks()` yields staged rows."""

    def __init__(self, sheet: RawSheet, spec: SourceSpec, skipped: Counter) -> None:
        self.sheet, self.spec, self.skipped = sheet, spec, skipped
        self.stop = re.compile(spec.stop_at) if spec.stop_at else None
        # row -> (0-based column, the value the cell holds itself) of cells filled from a merge
        self.filled: dict[int, list[tuple[int, str | None]]] = {}
        self.rows = _texts(sheet, self.filled)
        self.header: list[str] = []
        self.header_row: int | None = None
        self.notes: list[str] = []  # what a reader of the staged rows must know (merges, header)
        self._ahead: list[tuple[int, list]] = []
        self._find_header()

    @property
    def headerless(self) -> bool:
        return self.spec.header == "none"

    def _find_header(self) -> None:
        if self.headerless:
            return  # every row is data; columns are named by letter as they appear
        if self.spec.header_row is not None:
            for number, values in self.rows:
                if number >= self.spec.header_row:
                    self._ahead.append((number, values))
                    break
                if any(v is not None for v in values):
                    self.skipped["above_header"] += 1
        else:
            filled = 0
            for number, values in self.rows:
                self._ahead.append((number, values))
                filled += any(v is not None for v in values)
                if filled >= DETECT_ROWS:
                    break
            self._drop_title_rows()
        header_rows = []
        while self._ahead and len(header_rows) < self.spec.header_rows:
            header_rows.append(self._ahead.pop(0))
        while len(header_rows) < self.spec.header_rows and (nxt := next(self.rows, None)):
            header_rows.append(nxt)
        if header_rows:
            self.header_row = header_rows[0][0]
            self.header = _flatten([values for _, values in header_rows])

    def _drop_title_rows(self) -> None:
        # real cells only: a title merged across the table is one cell, not a row of names
        counts = [_real_cells(values, [c for c, _ in self.filled.get(n, ())]) for n, values in self._ahead]
        first = header_index(counts)
        if first is None:
            self._ahead.clear()
            return
        self.skipped["above_header"] += sum(1 for n in counts[:first] if n)
        del self._ahead[:first]

    def chunks(self, size: int) -> Iterator[tuple[list[str], list[tuple]]]:
        """(header, rows) with rows as (physical row, *texts); the header may grow between chunks."""
        chunk: list[tuple] = []
        width = len(self.header)
        hidden = self.sheet.hidden_rows if not self.spec.include_hidden else frozenset()
        skip_empty, stop, skipped = self.spec.skip_empty_rows, self.stop, self.skipped
        fill, filled = self.spec.fill_merged, self.filled
        stopped = False
        self._note_merges(fill)
        for number, values in _chain(self._ahead, self.rows):
            if filled and not fill and number in filled:
                for c, stored in filled.pop(number):
                    values[c] = stored
            first = next(filter(None, values), None)
            if stopped:
                if first is not None:
                    skipped["after_stop"] += 1
                continue
            if number in hidden:
                skipped["hidden_row"] += 1
                continue
            if first is None and skip_empty:
                skipped["empty_row"] += 1
                continue
            if stop is not None and first is not None and stop.search(first):
                skipped["stop_row"] += 1
                stopped = True
                continue
            if len(values) > width and any(values[width:]):
                if chunk:
                    yield list(self.header), chunk
                    chunk = []
                width = self._widen(values)
            chunk.append((number, *_fit(values, width)))
            if len(chunk) >= size:
                yield list(self.header), chunk
                chunk = []
        if chunk:
            yield list(self.header), chunk

    def _widen(self, values: list) -> int:
        """Cells right of the header hold data: give them columns named by letter, not drop them
        (`header: none`: every column is named by its letter, A, B, C...)."""
        last = max(i for i, v in enumerate(values) if v is not None)
        while len(self.header) <= last:
            letter = column_letter(len(self.header))
            self.header.append(letter if self.headerless else f"column_{letter.lower()}")
        return len(self.header)

    def _note_merges(self, fill: bool) -> None:
        """Name the merged ranges below the header: their value is in the top-left cell only,
        or (fill_merged) repeated over the range, so a reader knows those cells were filled."""
        below = self.header_row + self.spec.header_rows - 1 if self.header_row else 0
        ranges = [m for m in self.sheet.merged if m[2] > below and not _too_big(m)]
        if not ranges:
            return
        shown = ", ".join(_range_name(m) for m in ranges[:5]) + (
            f" and {len(ranges) - 5} more" if len(ranges) > 5 else ""
        )
        if fill:
            self.notes.append(f"merged cells {shown} filled from their top-left cell (fill_merged: true).")
        else:
            self.notes.append(
                f"merged cells {shown}: the value is staged in the top-left cell only "
                "(fill_merged: true repeats it over the range)."
            )


def header_notes(header: list[str]) -> list[str]:
    """Warnings about a chosen header: one text repeated (a title banner taken for the header?),
    or names that look like data (a sheet without a header, whose first row became names)."""
    notes = []
    texts = [h for h in header if h and not _LETTER_NAME.match(h)]
    if texts:
        text_, count = Counter(texts).most_common(1)[0]
        if count >= 3:
            notes.append(
                f"the header repeats {text_[:40]!r} in {count} columns: is it a title above the real header? "
                "Declare `header_row`."
            )
        data_like = sum(1 for h in texts if _DATA_LIKE.match(h.strip()))
        if data_like * 2 > len(texts):
            notes.append(
                f"the header's names look like data ({', '.join(repr(h[:20]) for h in texts[:3])}...): "
                "if the sheet has no header row, declare `header: none`."
            )
    return notes


_LETTER_NAME = re.compile(r"^column_[a-z]+$")
_DATA_LIKE = re.compile(
    r"^[-+]?\d[\d,.]*(e[-+]?\d+)?%?$|^\d{4}-\d{2}-\d{2}([ T][\d:.]+)?$|^\d{1,2}:\d{2}(:\d{2})?$", re.I
)


def _real_cells(values: list, filled) -> int:
    if not filled:
        return sum(v is not None for v in values)
    return sum(v is not None for i, v in enumerate(values) if i not in filled)


def _range_name(m: tuple[int, int, int, int]) -> str:
    r0, c0, r1, c1 = m
    return f"{column_letter(c0 - 1)}{r0}:{column_letter(c1 - 1)}{r1}"


def _too_big(m: tuple[int, int, int, int]) -> bool:
    return (m[2] - m[0] + 1) * (m[3] - m[1] + 1) > 100_000  # formatting over a block, not a value


def header_index(counts: list[int]) -> int | None:
    """Which of the first rows is the header, given each row's count of filled cells (None: all
    empty). Title rows (one merged caption, a date line) have fewer filled cells than the header.
    Shared by workbooks and text files, so both find the same header in the same layout."""
    if not any(counts):
        return None
    most = max(counts)
    need = max(1, min(2, most), (most + 1) // 2)
    return next(i for i, n in enumerate(counts) if n >= need)


def _fit(values: list, width: int) -> list:
    if len(values) == width:
        return values
    if len(values) > width:
        return values[:width]
    return values + [None] * (width - len(values))


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def _texts(sheet: RawSheet, filled: dict[int, list[tuple[int, str | None]]]) -> Iterator[tuple[int, list]]:
    """Rows as staged texts, left-padded to column A, merged ranges filled from their top-left
    cell; the filled cells are recorded in `filled` (the layout empties them in data rows)."""
    pad = [None] * sheet.col_offset
    merges = _merge_index(sheet.merged)
    anchors: dict[tuple[int, int], str | None] = {}
    errors: dict[int, list[tuple[int, str]]] = {}
    for row, col, shown in sheet.errors:
        errors.setdefault(row, []).append((col, shown))
    for row, col, raw in sheet.odd_dates:  # the number, not the time of day calamine makes of it
        errors.setdefault(row, []).append((col, cell_text(float(raw))))
    for row, col, stored in sheet.texts:  # the text as stored, not as calamine trimmed it
        errors.setdefault(row, []).append((col, stored if stored != "" else None))
    for number, raw in sheet.rows:
        values = pad + list(map(cell_text, raw)) if pad else list(map(cell_text, raw))
        if errors and number in errors:
            for col, shown in errors[number]:
                values.extend([None] * (col - len(values)))
                values[col - 1] = shown
        if merges and number in merges:
            filled[number] = _fill_merged(values, number, merges[number], anchors)
        yield number, values


def _merge_index(merged) -> dict[int, list[tuple[int, int, int, int]]]:
    index: dict[int, list] = {}
    for r0, c0, r1, c1 in merged:
        if _too_big((r0, c0, r1, c1)):
            continue
        for r in range(r0, r1 + 1):
            index.setdefault(r, []).append((r0, c0, r1, c1))
    return index


def _fill_merged(values: list, number: int, ranges, anchors) -> list[tuple[int, str | None]]:
    """Fill a row's part of each merged range; the filled cells (not the top-left one) with the
    value each held itself (usually none: Excel keeps only the top-left value of a merge)."""
    filled = []
    for r0, c0, _r1, c1 in ranges:
        if number == r0:
            anchors[(r0, c0)] = values[c0 - 1] if c0 - 1 < len(values) else None
        value = anchors.get((r0, c0))
        if len(values) < c1:
            values.extend([None] * (c1 - len(values)))
        for c in range(c0 - 1, c1):
            if (number, c + 1) != (r0, c0):
                filled.append((c, values[c]))
                values[c] = value
    return filled


def _flatten(rows: list[list]) -> list[str]:
    """One name per column from one or more header rows: the distinct parts, top to bottom."""
    width = max((len(r) for r in rows), default=0)
    names = []
    for c in range(width):
        parts: list[str] = []
        for row in rows:
            text = row[c] if c < len(row) and row[c] is not None else ""
            if text.strip() and (not parts or parts[-1].strip() != text.strip()):
                parts.append(text)
        names.append(parts[0] if len(parts) == 1 else " ".join(p.strip() for p in parts))
    while names and not names[-1]:
        names.pop()
    return [name or f"column_{column_letter(i).lower()}" for i, name in enumerate(names)]
