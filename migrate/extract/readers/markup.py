""" "xls" files that are markup, as old ERPs export them: Excel 2003 XML (SpreadsheetML) read
with defusedxml (no DTD, no entities), and HTML tables read with the standard library's
tokenizer (which fetches nothing and expands only HTML's own character references). Each gives
the sheets and RawSheets the calamine-backed Workbook gives, so the layout options apply alike.

SpreadsheetML cells keep their types (String, Number, DateTime, Boolean, Error: the error's
text, as for .xlsx); merged cells (MergeAcross/MergeDown) and hidden rows are reported. HTML
cells are text as written, without the markup's surrounding line breaks and indentation;
colspan/rowspan are merged ranges."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

from defusedxml import ElementTree

from migrate.errors import SourceError
from migrate.extract.readers import RawSheet

MAX_BYTES = 256 << 20  # parsed whole: larger markup "workbooks" are refused (save them as .xlsx)
_SS = "{urn:schemas-microsoft-com:office:spreadsheet}"
_X = "{urn:schemas-microsoft-com:office:excel}"


@dataclass
class MarkupSheet:
    name: str
    visible: bool = True
    cells: dict[int, dict[int, object]] = field(default_factory=dict)  # row -> column -> value (1-based)
    hidden_rows: set[int] = field(default_factory=set)
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    errors: list[tuple[int, int, str]] = field(default_factory=list)

    def put(self, row: int, col: int, value) -> None:
        self.cells.setdefault(row, {})[col] = value

    def raw(self, reader: str) -> RawSheet:
        width = max((max(cols) for cols in self.cells.values() if cols), default=0)
        last = max(self.cells, default=0)

        def rows():
            for r in range(1, last + 1):
                cols = self.cells.get(r, {})
                yield r, [cols.get(c) for c in range(1, width + 1)]

        return RawSheet(
            name=self.name,
            rows=rows(),
            hidden_rows=frozenset(self.hidden_rows),
            merged=tuple(self.merged),
            errors=tuple(self.errors),
            reader=reader,
        )


class MarkupBook:
    """The sheets of a SpreadsheetML or HTML "xls", parsed once."""

    def __init__(self, path: Path, shown: str, what: str) -> None:
        if path.stat().st_size > MAX_BYTES:
            raise SourceError(
                f"{shown} is refused: {path.stat().st_size:,} bytes of markup (limit {MAX_BYTES:,}).",
                hint="Open it in Excel or LibreOffice Calc and save it as .xlsx.",
            )
        self.reader = "spreadsheetml" if what == "spreadsheetml" else "html"
        self.sheets_ = _spreadsheetml(path, shown) if what == "spreadsheetml" else _html(path, shown)

    def sheets(self) -> list[tuple[str, bool]]:
        return [(s.name, s.visible) for s in self.sheets_]

    def read(self, name: str) -> RawSheet:
        return next(s for s in self.sheets_ if s.name == name).raw(self.reader)

    def close(self) -> None:
        self.sheets_ = []


def _spreadsheetml(path: Path, shown: str) -> list[MarkupSheet]:
    try:
        root = ElementTree.parse(str(path)).getroot()
    except ElementTree.ParseError as exc:
        raise SourceError(f"{shown} is damaged: not valid Excel 2003 XML ({exc}).") from None
    except Exception as exc:  # noqa: BLE001 - defusedxml refuses DTDs and entities
        raise SourceError(
            f"{shown} is refused: its XML declares a DTD or entities ({type(exc).__name__}).",
            hint="Excel never writes them: open the file in Excel and save it as .xlsx.",
        ) from None
    sheets = []
    for ws in root.iter(f"{_SS}Worksheet"):
        sheet = MarkupSheet(ws.get(f"{_SS}Name", f"Sheet{len(sheets) + 1}"))
        visible = ws.find(f"{_X}WorksheetOptions/{_X}Visible")
        sheet.visible = visible is None or (visible.text or "") == "SheetVisible"
        table = ws.find(f"{_SS}Table")
        if table is not None:
            _table_rows(table, sheet)
        sheets.append(sheet)
    return sheets


def _table_rows(table, sheet: MarkupSheet) -> None:
    r = 0
    for row in table.iter(f"{_SS}Row"):
        r = _index(row, r + 1)
        if row.get(f"{_SS}Hidden") == "1":
            sheet.hidden_rows.add(r)
        c = 0
        for cell in row.iter(f"{_SS}Cell"):
            c = _index(cell, c + 1)
            across, down = int(cell.get(f"{_SS}MergeAcross", 0)), int(cell.get(f"{_SS}MergeDown", 0))
            if across or down:
                sheet.merged.append((r, c, r + down, c + across))
            data = cell.find(f"{_SS}Data")
            if data is not None:
                value = _typed(data)
                if data.get(f"{_SS}Type") == "Error":
                    sheet.errors.append((r, c, value))
                sheet.put(r, c, value)
            c += across


def _index(element, default: int) -> int:
    """A row's or cell's ss:Index, kept within Excel's grid (a hostile index is no reason to
    walk a billion empty rows)."""
    try:
        return max(default, min(int(element.get(f"{_SS}Index", default)), 1_048_576))
    except ValueError:
        return default


def _typed(data):
    """A <Data> element's value as calamine would give its cell."""
    text = "".join(data.itertext())
    kind = data.get(f"{_SS}Type", "String")
    try:
        if kind == "Number":
            return float(text)
        if kind == "Boolean":
            return text.strip() in ("1", "true", "TRUE")
        if kind == "DateTime":
            stamp = datetime.fromisoformat(text.strip()[:26])
            if stamp.date() == datetime(1899, 12, 31).date():
                return stamp.time()  # a time of day without a date
            return stamp.date() if stamp.time() == datetime.min.time() else stamp
    except ValueError:
        return text  # not what its type says: the text as written
    return text if text != "" else None


class _Tables(HTMLParser):
    """Every <table>'s cells, placed on a grid that honours colspan and rowspan."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sheets: list[MarkupSheet] = []
        self.sheet: MarkupSheet | None = None
        self.row = 0
        self.col = 0
        self.taken: set[tuple[int, int]] = set()  # cells covered by a rowspan from above
        self.text: list[str] | None = None
        self.span = (1, 1)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.sheet = MarkupSheet(f"Table{len(self.sheets) + 1}")
            self.sheets.append(self.sheet)
            self.row, self.taken = 0, set()
        elif tag == "tr" and self.sheet is not None:
            self.row, self.col = self.row + 1, 0
        elif tag in ("td", "th") and self.sheet is not None:
            self.col += 1
            while (self.row, self.col) in self.taken:
                self.col += 1
            self.span = (_span(attrs.get("rowspan")), _span(attrs.get("colspan")))
            self.text = []
        elif tag == "br" and self.text is not None:
            self.text.append("\n")

    def handle_data(self, data):
        if self.text is not None:
            self.text.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.text is not None and self.sheet is not None:
            value = "".join(self.text).strip(" \t\r\n")
            self.sheet.put(self.row, self.col, value or None)
            down, across = self.span
            if down * across > 10_000:
                down, across = 1, 1  # a span that large is layout, not a value to place
            if down > 1 or across > 1:
                self.sheet.merged.append((self.row, self.col, self.row + down - 1, self.col + across - 1))
                self.taken.update(
                    (r, c)
                    for r in range(self.row, self.row + down)
                    for c in range(self.col, self.col + across)
                )
            self.col += across - 1
            self.text = None


def _span(value) -> int:
    try:
        return max(1, min(int(value), 16384))
    except (TypeError, ValueError):
        return 1


def _html(path: Path, shown: str) -> list[MarkupSheet]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    parser = _Tables()
    parser.feed(text)
    parser.close()
    if not parser.sheets:
        raise SourceError(
            f"{shown} is an HTML page without a table.", hint="Export the data again as .xlsx or CSV."
        )
    return parser.sheets
