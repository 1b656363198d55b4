"""Workbooks for the segmented xlsx path's tests, written part by part with zipfile so the sheet XML
holds what openpyxl never writes: inline strings, `<row>` elements with only styled empty cells,
rows without cells, absent rows, cells without a reference, hidden rows, error cells. Sheets are
a few thousand rows long, so a tiny SEGMENT_BYTES cuts each into dozens of segments, and the
features below come in runs and at periods that cannot divide into the rows of a segment: some
land on every kind of segment boundary whatever the exact cut.

Styles (the `s` attribute): 0 general, 1 date, 2 a fill only (a styled empty cell), 3 time of day,
4 duration ([h]:mm:ss), 5 date and time."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

DATE, STYLED, TIME, DURATION, DATETIME = 1, 2, 3, 4, 5
ROWS = 2000  # data rows per sheet: ~300 KB of XML, 70+ segments of 4 KiB
NOTES = ["NA", "N/A", "NULL", "备注", " 前后空格 ", "全角　", "x&y<z>"]  # shared strings

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_STYLES = (
    f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{_MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="[h]:mm:ss"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFFFFF00"/></patternFill></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="6"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="2" borderId="0" xfId="0" applyFill="1"/>'
    '<xf numFmtId="21" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs></styleSheet>"
)


@dataclass(frozen=True)
class Sheet:
    name: str
    rows: list[str]  # `<row>` elements in order
    merges: tuple[str, ...] = ()  # "A10:C10"
    hidden: bool = False
    # as other writers lay the XML out: indented, `spans` before `r`, a (wrong) <dimension>
    pretty: bool = False
    dimension: str | None = None


# ---------------------------------------------------------------- cells and rows


def num(ref: str, value: float | int | str, style: int = 0) -> str:
    """A number cell; `value` as written in `<v>` (a str keeps a raw form like "1E+21")."""
    raw = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    s = f' s="{style}"' if style else ""
    return f'<c r="{ref}"{s}><v>{raw}</v></c>'


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>'


def shared(ref: str, index: int) -> str:
    return f'<c r="{ref}" t="s"><v>{index}</v></c>'


def styled(ref: str) -> str:
    """A cell with a style and no value: no data, but a `<c>` element."""
    return f'<c r="{ref}" s="{STYLED}"/>'


def boolean(ref: str, value: bool) -> str:
    return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'


def formula(ref: str, expr: str, cached: str | None = None) -> str:
    """A formula; without `cached` it has no value (the guard warns about it)."""
    value = f"<v>{cached}</v>" if cached is not None else ""
    return f'<c r="{ref}"><f>{escape(expr)}</f>{value}</c>'


def error(ref: str, text: str = "#N/A") -> str:
    return f'<c r="{ref}" t="e"><v>{escape(text)}</v></c>'


def row(number: int, cells: Iterable[str] = (), hidden: bool = False) -> str:
    attrs = f' r="{number}"' + (' hidden="1"' if hidden else "")
    body = "".join(cells)
    return f"<row{attrs}>{body}</row>" if body else f"<row{attrs}/>"


def serial(day: dt.date, date1904: bool = False) -> int:
    """Excel's serial number of a date in the workbook's date system."""
    epoch = dt.date(1904, 1, 1) if date1904 else dt.date(1899, 12, 30)
    return (day - epoch).days


def ref(column: int, number: int) -> str:
    """0-based column, 1-based row -> "B12"."""
    return f"{get_column_letter(column + 1)}{number}"


# ---------------------------------------------------------------- the ledger sheet

LEDGER_HEADER = ["编码", "长编码", "数量", "日期", "备注"]


def header_row(number: int, names: list[str] = LEDGER_HEADER, first: int = 0) -> str:
    return row(number, (inline(ref(first + i, number), n) for i, n in enumerate(names)))


def ledger_cells(r: int, date1904: bool = False) -> list[str]:
    """Row r of a ledger: a leading-zero code (inline), a 17-digit code (inline), a quantity, a date,
    a note from the shared strings."""
    return [
        inline(f"A{r}", f"{r:06d}"),
        inline(f"B{r}", f"{12345678900000000 + r}"),
        num(f"C{r}", r / 4 if r % 3 else r),
        num(f"D{r}", serial(dt.date(2023, 1, 1) + dt.timedelta(days=r % 500), date1904), DATE),
        shared(f"E{r}", r % len(NOTES)),
    ]


def ledger(
    name: str,
    rows: int = ROWS,
    *,
    start: int = 2,
    hidden: Callable[[int], bool] = lambda r: False,
    cells: Callable[[int], list[str] | None] | None = None,
    header_at: int = 1,
    before: Iterable[str] = (),
) -> Sheet:
    """A header then `rows` ledger rows from `start`; `cells(r)` may replace a row's cells
    (None: no `<row>` element at all, []: a `<row>` without cells)."""
    out = list(before) + [header_row(header_at)]
    for r in range(start, start + rows):
        got = cells(r) if cells else ledger_cells(r)
        if got is not None:
            out.append(row(r, got, hidden(r)))
    return Sheet(name, out)


# ---------------------------------------------------------------- the workbook


def write_book(
    path: Path, sheets: list[Sheet], *, date1904: bool = False, strings: list[str] = NOTES
) -> None:
    """An xlsx with these sheets, shared strings and the styles above (deflated parts)."""
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT}.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_CT}.sharedStrings+xml"/>'
        f"{overrides}</Types>",
        "_rels/.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG}">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": _workbook(sheets, date1904),
        "xl/_rels/workbook.xml.rels": _workbook_rels(len(sheets)),
        "xl/styles.xml": _STYLES,
        "xl/sharedStrings.xml": f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}" count="{len(strings)}">'
        + "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in strings)
        + "</sst>",
    }
    for i, sheet in enumerate(sheets, 1):
        parts[f"xl/worksheets/sheet{i}.xml"] = sheet_xml(sheet)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text.encode("utf-8"))


def sheet_xml(sheet: Sheet) -> str:
    merges = ""
    if sheet.merges:
        merges = f'<mergeCells count="{len(sheet.merges)}">' + "".join(
            f'<mergeCell ref="{m}"/>' for m in sheet.merges
        )
        merges += "</mergeCells>"
    rows = "".join(sheet.rows)
    if sheet.pretty:  # no text holds a raw "<": these replacements only touch tags
        rows = rows.replace("<row r=", '\n  <row spans="1:12" r=').replace("<c ", "\n    <c ")
        rows = rows.replace("</row>", "\n  </row>")
    dimension = f'<dimension ref="{sheet.dimension}"/>' if sheet.dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN}" '
        f'xmlns:r="{_REL}">{dimension}<sheetData>{rows}\n</sheetData>{merges}</worksheet>'
    )


def _workbook(sheets: list[Sheet], date1904: bool) -> str:
    pr = '<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>"
    listed = "".join(
        f'<sheet name="{escape(s.name)}" sheetId="{i}"{" state=" + chr(34) + "hidden" + chr(34) if s.hidden else ""} r:id="rId{i}"/>'
        for i, s in enumerate(sheets, 1)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
        f"{pr}<sheets>{listed}</sheets></workbook>"
    )


def _workbook_rels(count: int) -> str:
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, count + 1)
    )
    rels += f'<Relationship Id="rId{count + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
    rels += f'<Relationship Id="rId{count + 2}" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
    return f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG}">{rels}</Relationships>'


# ---------------------------------------------------------------- damage


def lie_about_size(path: Path, part: str, declared: int) -> None:
    """Declare `part` `declared` bytes long (less than it inflates to) in its local and central
    headers, as a crafted bomb would: the guard finds out only while inflating."""
    import re

    data = bytearray(path.read_bytes())
    name = part.encode()
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        for m in re.finditer(re.escape(signature), bytes(data)):
            start = m.start()
            if data[start + name_at : start + name_at + len(name)] == name:
                data[start + size_at : start + size_at + 4] = declared.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def corrupt_middle(path: Path, part: str) -> None:
    """Overwrite bytes in the middle of a part's deflate stream: inflating fails partway."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(part)
    data = bytearray(path.read_bytes())
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    middle = start + info.compress_size // 2
    data[middle : middle + 64] = bytes(range(64)) * 1
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------- random sheets

FAST_KINDS = ("int", "float", "text", "code", "date", "bool", "empty", "shared")
# a datetime with a fraction of a second, a time of day: cells only; formulas with cached values
KINDS = (*FAST_KINDS, "datetime", "time", "formula-text", "formula-number")


def random_sheet(name: str, rng, rows: int = 1500, stop_row: int | None = None) -> Sheet:
    """A header, then `rows` rows whose columns change kind every few hundred rows (after the first
    300, which the fast path can read whole), with hidden, absent, cell-less and styled-empty rows,
    missing cells and cells right of the header sprinkled in; `stop_row` holds 合计 in column A."""
    width = rng.randint(3, 7)
    out = [header_row(1, [f"列{i}" for i in range(width)])]
    kinds = [rng.choice(FAST_KINDS) for _ in range(width)]
    for r in range(2, rows + 2):
        if r > 300 and rng.random() < 0.004:  # a new block: some columns change kind
            kinds = [rng.choice(KINDS) if rng.random() < 0.5 else k for k in kinds]
        if r == stop_row:
            out.append(row(r, [inline(f"A{r}", "合计"), num(f"B{r}", r)]))
            continue
        roll = rng.random()
        if roll < 0.03:
            continue  # no <row> element
        if roll < 0.05:
            cells = []
        elif roll < 0.08:
            cells = [styled(ref(c, r)) for c in range(width)]
        else:
            cells = [_random_cell(kinds[c], ref(c, r), r, rng) for c in range(width) if rng.random() > 0.1]
            if rng.random() < 0.01:
                cells.append(inline(ref(width + rng.randint(0, 3), r), f"extra {r}"))
        out.append(row(r, cells, hidden=rng.random() < 0.03))
    return Sheet(name, out, pretty=rng.random() < 0.5, dimension=rng.choice([None, "A1", "A1:C10"]))


def _random_cell(kind: str, at: str, r: int, rng) -> str:
    value = rng.randint(-(10**6), 10**6)
    cells = {
        "int": lambda: num(at, value),
        "float": lambda: num(at, value / 7),
        "text": lambda: inline(
            at, rng.choice(["", " ", "NA", "x y", f"t{value}", "true", "0.3", "𠮷野家 😀"])
        ),
        "code": lambda: inline(at, f"{abs(value):08d}"),
        "date": lambda: num(at, 36000 + abs(value) % 20000, DATE),
        "datetime": lambda: num(at, 36000 + abs(value) % 20000 + rng.randrange(1, 86400) / 86400, DATETIME),
        "bool": lambda: boolean(at, value % 2 == 0),
        "empty": lambda: styled(at),
        "time": lambda: num(at, rng.randrange(0, 86400) / 86400, TIME),
        "shared": lambda: shared(at, abs(value) % len(NOTES)),
        "formula-text": lambda: f'<c r="{at}" t="str"><f>"v"&amp;{value}</f><v>v{value}</v></c>',
        "formula-number": lambda: formula(at, f"{value}*2", cached=str(value * 2)),
    }
    return cells[kind]()
