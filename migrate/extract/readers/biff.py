"""Legacy .xls (BIFF) facts that calamine does not report: which rows are hidden, and which
cells hold an error (#N/A, #DIV/0!: calamine gives them as empty; we stage the text Excel shows,
as for .xlsx)."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from migrate.errors import SourceError
from migrate.extract.guards import LAST_SERIAL
from migrate.extract.readers import cell_text
from migrate.extract.readers.ooxml import BUILTIN_DATES, is_date_code


@dataclass(frozen=True)
class XlsFacts:
    hidden_rows: frozenset[int] = frozenset()  # 1-based
    errors: tuple[tuple[int, int, str], ...] = ()  # (row, column, both 1-based; text shown)
    cells: int = 0  # cells holding a value
    extent: tuple[int, int] = (0, 0)  # (last row, last column) holding one, 1-based
    # numbers in date-formatted cells that are no date (negative, past 9999-12-31): calamine
    # gives -1 as the time 00:00:00; the number is staged instead, with a warning (as for xlsx)
    odd_dates: tuple[tuple[int, int, str], ...] = ()  # (row, column, both 1-based; the number)
    # a formula's text result longer than one record (8,224 bytes) goes on in CONTINUE records,
    # which calamine does not read: it cut a 24,732-character text at 8,217. The whole text:
    texts: tuple[tuple[int, int, str], ...] = ()  # (row, column, both 1-based; the text)
    # merged ranges (MERGEDCELLS records), for sheets xlrd reads (calamine reports its own)
    merged: tuple[tuple[int, int, int, int], ...] = ()  # (row0, col0, row1, col1), 1-based
    probe_failed: bool = False  # neither the BIFF8 walk nor xlrd could read the row formatting

    @property
    def sparse(self) -> bool:
        """calamine would hold the whole rectangle up to the last cell in memory (32 bytes a
        cell: a 65,536 x 256 sheet with two values took 1 GB); when that rectangle is large and
        nearly empty, the sheet is read row by row by xlrd instead (read_sparse)."""
        area = self.extent[0] * self.extent[1]
        return area > DENSE_CELLS and self.cells * 64 < area


DENSE_CELLS = 4_000_000


def xls_facts(path: Path, sheet: str) -> XlsFacts:
    """Hidden rows and error cells of an .xls sheet. The records of a BIFF8 sheet are scanned
    directly (0.2 s for a full 65,536 x 8 sheet, where xlrd's formatting pass takes 2.1 s);
    older BIFF versions go through xlrd (hidden rows only)."""
    try:
        facts = _biff8_facts(path.read_bytes(), sheet)
    except Exception:  # noqa: BLE001 - a side probe: a damaged stream leaves it to xlrd, then to none
        facts = None
    if facts is not None:
        return facts
    hidden = _xlrd_probe(path, sheet)
    return XlsFacts(hidden or frozenset(), probe_failed=hidden is None)


def sparse_sheets(path: Path) -> list[tuple[str, bool]] | None:
    """(name, visible) of the worksheets of an .xls of which one is large and nearly empty
    (XlsFacts.sparse), else None. calamine parses every sheet of an .xls when it opens it, so
    such a workbook is read by xlrd alone (read_sparse)."""
    try:
        data = path.read_bytes()
        sheets = _biff8_sheets(data)
        if _impossible_dimensions(_workbook_stream(data) or b"") or any(
            _biff8_facts(data, name).sparse for name, _, _ in sheets
        ):
            return [(name, visible) for name, visible, worksheet in sheets if worksheet]
    except Exception:  # noqa: BLE001 - a side probe: calamine reads (or refuses) the file as usual
        return None
    return None


def old_biff_sheets(path: Path, shown: str) -> list[tuple[str, bool]]:
    """(name, visible) of a BIFF2-4 file's sheets (calamine reads BIFF8 only; xlrd reads these)."""
    return xlrd_sheets(path, shown, "an Excel 2.x-4.0 worksheet")


def xlrd_sheets(path: Path, shown: str, what: str = "an Excel 97-2003 workbook") -> list[tuple[str, bool]]:
    """(name, visible) of the worksheets of a workbook read by xlrd (read_sparse)."""
    import xlrd

    try:
        book = xlrd.open_workbook(str(path), on_demand=True, logfile=io.StringIO())
    except Exception as exc:  # noqa: BLE001 - xlrd's errors on a damaged stream
        raise SourceError(f"{shown} cannot be read as {what} ({str(exc)[:200]}).") from None
    try:
        shown_states = getattr(book, "_sheet_visibility", None) or []
        names = book.sheet_names()
        return [(name, i >= len(shown_states) or shown_states[i] == 0) for i, name in enumerate(names)]
    finally:
        book.release_resources()


def calamine_misdecodes(path: Path, sheet_names: list[str]) -> str | None:
    """Why calamine's text of an .xls is wrong, or None. calamine decodes a BIFF8 string in the
    workbook's declared code page, but BIFF8 text is Latin-1 or UTF-16 whatever the CODEPAGE
    record says (1200 in Excel's files; 1252 or 936 in some ERPs' exports): "Müller" comes out
    "M\\x00ü\\x00l\\x00..." and Chinese as other Chinese. xlrd decodes both right. Seen in its
    sheet names (NUL characters) or in the CODEPAGE record itself."""
    if any("\x00" in name for name in sheet_names):
        return "NUL characters in its sheet names"
    try:
        codepage = _biff8_codepage(path.read_bytes())
    except Exception:  # noqa: BLE001 - a side probe: calamine's reading stands
        return None
    if codepage is not None and codepage != _UTF16_CODEPAGE:
        return f"code page {codepage} declared for text stored as UTF-16"
    return None


def xls_encrypted(path: Path) -> bool:
    """The workbook globals hold a FILEPASS record: the .xls is password-protected (XOR or RC4
    obfuscation), and what calamine reads from it is garbage or an error about code pages."""
    try:
        from xlrd.compdoc import CompDoc

        stream = CompDoc(path.read_bytes(), logfile=io.StringIO()).get_named_stream("Workbook")
        pos = 0
        while stream and pos + 4 <= len(stream):
            kind, size = struct.unpack_from("<HH", stream, pos)
            if kind == _BIFF_FILEPASS:
                return True
            if kind in (_BIFF_EOF, _BIFF_BOUNDSHEET):
                return False  # FILEPASS comes right after the globals' BOF
            pos += 4 + size
    except Exception:  # noqa: BLE001 - a side probe: calamine reads (or refuses) the file as usual
        return False
    return False


def xls_hidden_rows(path: Path, sheet: str) -> frozenset[int]:
    """1-based rows hidden in an .xls sheet (calamine does not report row formatting)."""
    return xls_facts(path, sheet).hidden_rows


_BIFF_BOF, _BIFF_EOF, _BIFF_BOUNDSHEET, _BIFF_ROW = 0x0809, 0x000A, 0x0085, 0x0208
_BIFF_BOOLERR, _BIFF_FORMULA = 0x0205, 0x0006
_BIFF_MULRK, _BIFF_FILEPASS = 0x00BD, 0x002F
_BIFF_NUMBER, _BIFF_RK, _BIFF_FORMAT, _BIFF_XF = 0x0203, 0x027E, 0x041E, 0x00E0
_BIFF_CODEPAGE, _UTF16_CODEPAGE = 0x0042, 1200
_BIFF_STRING, _BIFF_CONTINUE, _BIFF_DIMENSIONS = 0x0207, 0x003C, 0x0200
_BIFF_MERGEDCELLS = 0x00E5
# records holding one cell's value: NUMBER, RK, LABELSST, LABEL, RSTRING, BOOLERR, FORMULA
_BIFF_CELLS = frozenset((0x0203, 0x027E, 0x00FD, 0x0204, 0x00D6, _BIFF_BOOLERR, _BIFF_FORMULA))
_ROW_HIDDEN = 0x20  # ROW record, 32-bit flags at offset 12: bit 5 is "height zero" (hidden)
ERROR_TEXTS = {
    0x00: "#NULL!",
    0x07: "#DIV/0!",
    0x0F: "#VALUE!",
    0x17: "#REF!",
    0x1D: "#NAME?",
    0x24: "#NUM!",
    0x2A: "#N/A",
}


def _biff8_facts(data: bytes, sheet: str) -> XlsFacts | None:
    """None when the stream is not BIFF8 or the sheet is not found (the caller asks xlrd)."""
    from xlrd.compdoc import CompDoc, CompDocError

    try:
        doc = CompDoc(data, logfile=io.StringIO())
        stream = doc.get_named_stream("Workbook") or doc.get_named_stream("Book")
    except CompDocError:
        return None
    if not stream or struct.unpack_from("<HHH", stream, 0)[::2] != (_BIFF_BOF, 0x0600):
        return None
    start = _biff8_sheet_offsets(stream).get(sheet)
    if start is None:
        return None
    hidden, errors, odd, merged = set(), [], [], []
    date_xfs = _biff8_date_xfs(stream)
    long_texts = _LongTexts(stream)
    cells = last_row = last_col = 0
    # Excel's INDEX -> DBCELL chain could skip the cell records, but xlwt and LibreOffice write
    # no INDEX; the plain walk is the one path every writer's file takes
    for kind, pos, size in _records_by_walk(stream, start):
        if long_texts.took(kind, pos, size):
            continue
        if kind == _BIFF_MERGEDCELLS:
            merged.extend(_merged_ranges(stream, pos, size))
            continue
        if kind == _BIFF_ROW:
            row, flags = struct.unpack_from("<H10xI", stream, pos + 4)
            if flags & _ROW_HIDDEN:
                hidden.add(row + 1)
            continue
        row, col = struct.unpack_from("<HH", stream, pos + 4)
        last = struct.unpack_from("<H", stream, pos + 2 + size)[0] if kind == _BIFF_MULRK else col
        cells += last - col + 1
        last_row, last_col = max(last_row, row + 1), max(last_col, last + 1)
        if (code := _error_code(stream, kind, pos)) is not None:
            errors.append((row + 1, col + 1, ERROR_TEXTS.get(code, "#N/A")))
        elif date_xfs:
            odd.extend(
                (row + 1, c + 1, cell_text(v)) for c, v in _dated_numbers(stream, kind, pos, size, date_xfs)
            )
    long_texts.took(_BIFF_EOF, 0, 0)
    return XlsFacts(
        frozenset(hidden),
        tuple(errors),
        cells,
        (last_row, last_col),
        tuple(odd),
        tuple(long_texts.texts),
        tuple(merged),
    )


def _merged_ranges(stream: bytes, pos: int, size: int) -> Iterator[tuple[int, int, int, int]]:
    """A MERGEDCELLS record: a count, then (first row, last row, first column, last column)."""
    count = min(struct.unpack_from("<H", stream, pos + 4)[0], (size - 2) // 8)
    for i in range(count):
        r0, r1, c0, c1 = struct.unpack_from("<HHHH", stream, pos + 6 + 8 * i)
        yield r0 + 1, c0 + 1, r1 + 1, c1 + 1


class _LongTexts:
    """Formula text results cut over CONTINUE records: a FORMULA whose cached result is text is
    followed by a STRING record holding it (character count, then a high-byte flag and the
    characters), and CONTINUE records each starting with its own flag (compressed Latin-1 or
    UTF-16: the flag may change from one record to the next, with the script of the text)."""

    def __init__(self, stream: bytes) -> None:
        self.stream = stream
        self.texts: list[tuple[int, int, str]] = []
        self.formula: tuple[int, int] | None = None  # the last formula cell (row, column), 0-based
        self.parts: list[bytes] = []  # the STRING record's data, then its CONTINUEs'

    def took(self, kind: int, pos: int, size: int) -> bool:
        """Whether the record was the STRING or a CONTINUE (nothing else to do with it)."""
        data = self.stream[pos + 4 : pos + 4 + size]
        if kind == _BIFF_CONTINUE and self.parts:
            self.parts.append(data)
            return True
        if len(self.parts) > 1 and self.formula is not None:
            self.texts.append((self.formula[0] + 1, self.formula[1] + 1, _continued_text(self.parts)))
        self.parts = []
        if kind == _BIFF_STRING and self.formula is not None and size >= 3:
            self.parts = [data]
            return True
        if kind == _BIFF_FORMULA:
            self.formula = struct.unpack_from("<HH", self.stream, pos + 4)
        elif kind != _BIFF_ROW:
            self.formula = None
        return kind in (_BIFF_STRING, _BIFF_CONTINUE)


def _continued_text(parts: list[bytes]) -> str:
    count = struct.unpack_from("<H", parts[0])[0]
    pieces = []
    for i, part in enumerate(parts):
        part = part[2:] if i == 0 else part
        if part:
            pieces.append(part[1:].decode("utf-16-le" if part[0] & 1 else "latin-1", "replace"))
    return "".join(pieces)[:count]


def _biff8_date_xfs(stream: bytes) -> frozenset[int]:
    """Indexes of the XF records (a cell's format) that show a date or time, as calamine
    decides it: a built-in date format or a FORMAT record whose code has y, m, d, h or s."""
    formats: dict[int, bool] = {}
    xfs, pos = [], 0
    while pos + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, pos)
        if kind == _BIFF_FORMAT and size >= 5:
            ifmt, count, wide = struct.unpack_from("<HHB", stream, pos + 4)
            raw = stream[pos + 9 : pos + 9 + count * (2 if wide & 1 else 1)]
            formats[ifmt] = is_date_code(raw.decode("utf-16-le" if wide & 1 else "latin-1", "replace"))
        elif kind == _BIFF_XF and size >= 4:
            xfs.append(struct.unpack_from("<H", stream, pos + 6)[0])
        elif kind == _BIFF_EOF:
            break
        pos += 4 + size
    return frozenset(i for i, ifmt in enumerate(xfs) if formats.get(ifmt, ifmt in BUILTIN_DATES))


def _dated_numbers(stream: bytes, kind: int, pos: int, size: int, date_xfs: frozenset[int]):
    """(0-based column, value) of the numbers of a NUMBER, RK, MULRK or FORMULA record (cached
    number) whose format shows a date and which are no date: negative, or past 9999-12-31."""
    col = struct.unpack_from("<H", stream, pos + 6)[0]
    if kind == _BIFF_MULRK:
        entries = [(col + i, pos + 8 + 6 * i) for i in range((size - 6) // 6)]
    elif kind in (_BIFF_NUMBER, _BIFF_RK) or (
        kind == _BIFF_FORMULA and stream[pos + 16 : pos + 18] != b"\xff\xff"
    ):
        entries = [(col, pos + 8)]
    else:
        return
    for column, at in entries:
        if struct.unpack_from("<H", stream, at)[0] not in date_xfs:
            continue
        if kind in (_BIFF_RK, _BIFF_MULRK):
            value = _rk_value(struct.unpack_from("<I", stream, at + 2)[0])
        else:
            value = struct.unpack_from("<d", stream, at + 2)[0]
        if value < 0 or value >= LAST_SERIAL + 1:
            yield column, value


def _rk_value(rk: int) -> float:
    """An RK number: a 30-bit integer or the top 30 bits of a double, maybe times 100."""
    if rk & 2:
        value = float(struct.unpack("<i", struct.pack("<I", rk))[0] >> 2)
    else:
        value = struct.unpack("<d", struct.pack("<Q", (rk & 0xFFFFFFFC) << 32))[0]
    return value / 100 if rk & 1 else value


def _error_code(stream: bytes, kind: int, pos: int) -> int | None:
    """The error code of a BOOLERR record holding an error, or of a FORMULA whose cached result
    is one (result bytes: 0x02, _, code, _, _, _, 0xFF, 0xFF)."""
    if kind == _BIFF_BOOLERR:
        value, is_error = struct.unpack_from("<BB", stream, pos + 10)
        return value if is_error else None
    if kind == _BIFF_FORMULA:
        result = stream[pos + 10 : pos + 18]
        if len(result) == 8 and result[0] == 2 and result[6:8] == b"\xff\xff":
            return result[2]
    return None


def _records_by_walk(stream: bytes, start: int) -> Iterator[tuple[int, int, int]]:
    """(record type, offset, size) of a sheet's ROW and value records, up to its EOF."""
    pos = start
    while pos + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, pos)
        if (
            (kind == _BIFF_ROW and size >= 16)
            or ((kind in _BIFF_CELLS or kind == _BIFF_MULRK) and size >= 8)
            or kind in (_BIFF_STRING, _BIFF_CONTINUE)
            or (kind == _BIFF_MERGEDCELLS and size >= 2)
        ):
            yield kind, pos, size
        elif kind == _BIFF_EOF:
            return
        pos += 4 + size


def _biff8_codepage(data: bytes) -> int | None:
    """The CODEPAGE record of a BIFF8 workbook's globals; None for other BIFF versions."""
    stream = _workbook_stream(data)
    if not stream or struct.unpack_from("<HHH", stream, 0)[::2] != (_BIFF_BOF, 0x0600):
        return None
    pos = 0
    while pos + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, pos)
        if kind == _BIFF_CODEPAGE and size >= 2:
            return struct.unpack_from("<H", stream, pos + 4)[0]
        if kind in (_BIFF_EOF, _BIFF_BOUNDSHEET):
            return None  # CODEPAGE comes before the sheets' records
        pos += 4 + size
    return None


def _impossible_dimensions(stream: bytes) -> bool:
    """A DIMENSIONS record declaring more cells than an .xls sheet holds (65,536 x 256), as
    calamine reads it (u32 arithmetic: a first row past the last wraps round). calamine reserves
    memory for that many cells before reading any: a damaged record asked for 228 GB, and the
    failed allocation aborted the process (no exception to catch). xlrd ignores the record."""
    pos = 0
    while pos + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, pos)
        if kind == _BIFF_DIMENSIONS and size in (10, 14):
            first, last, col0, col1 = struct.unpack_from("<IIHH" if size == 14 else "<HHHH", stream, pos + 4)
            col0 = 0 if col0 > 0xFF or col1 < col0 else col0
            if last >= 1 and col1 >= 1:
                rows, cols = (last - 1 - first + 1) % (1 << 32), (col1 - 1 - col0 + 1) % (1 << 32)
                if rows * cols > BIFF8_MAX_CELLS:
                    return True
        pos += 4 + size
    return False


BIFF8_MAX_CELLS = 65_536 * 256


def _workbook_stream(data: bytes) -> bytes | None:
    from xlrd.compdoc import CompDoc

    doc = CompDoc(data, logfile=io.StringIO())
    return doc.get_named_stream("Workbook") or doc.get_named_stream("Book")


def _biff8_sheets(data: bytes) -> list[tuple[str, bool, bool]]:
    """(name, visible, a worksheet) of every sheet, from the BOUNDSHEET records."""
    from xlrd.compdoc import CompDoc

    stream = CompDoc(data, logfile=io.StringIO()).get_named_stream("Workbook")
    out, pos = [], 0
    while stream and pos + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, pos)
        if kind == _BIFF_BOUNDSHEET:
            state, sheet_type, count, wide = struct.unpack_from("<4xBBBB", stream, pos + 4)
            raw = stream[pos + 12 : pos + 12 + count * (2 if wide & 1 else 1)]
            out.append((raw.decode("utf-16-le" if wide & 1 else "latin-1"), state & 3 == 0, sheet_type == 0))
        elif kind == _BIFF_EOF:
            break
        pos += 4 + size
    return out


def _biff8_sheet_offsets(stream: bytes) -> dict[str, int]:
    """Sheet name -> stream offset of its BOF, from the globals' BOUNDSHEET records."""
    offsets, pos = {}, 0
    while pos + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, pos)
        if kind == _BIFF_BOUNDSHEET:
            offset, count, wide = struct.unpack_from("<I2xBB", stream, pos + 4)
            raw = stream[pos + 12 : pos + 12 + count * (2 if wide & 1 else 1)]
            offsets[raw.decode("utf-16-le" if wide & 1 else "latin-1")] = offset
        elif kind == _BIFF_EOF:
            break
        pos += 4 + size
    return offsets


def _xlrd_hidden_rows(path: Path, sheet: str) -> frozenset[int]:
    return _xlrd_probe(path, sheet) or frozenset()


def _xlrd_probe(path: Path, sheet: str) -> frozenset[int] | None:
    """A side probe: whatever xlrd raises on a file calamine reads, calamine's values still stand
    (None: hidden rows unknown, said in a warning), and what xlrd prints goes to a buffer, never
    to stdout (--json)."""
    import xlrd

    try:
        book = xlrd.open_workbook(str(path), formatting_info=True, on_demand=True, logfile=io.StringIO())
    except Exception:  # noqa: BLE001 - a damaged directory, a BIFF version xlrd cannot format-read
        return None
    try:
        info = book.sheet_by_name(sheet).rowinfo_map
        return frozenset(r + 1 for r, row in info.items() if row.hidden)
    except Exception:  # noqa: BLE001 - see above
        return None
    finally:
        book.release_resources()


def read_sparse(path: Path, sheet: str) -> Iterator[tuple[int, list]]:
    """(1-based row, values) of an .xls sheet by xlrd with ragged rows (each row only as long as
    its last cell), values as calamine gives them: text, float, bool, date/datetime/time, an
    error's text; empty as None. Memory follows the cells, not the rectangle they span."""
    import xlrd
    from xlrd.xldate import XLDateError, xldate_as_datetime

    book = xlrd.open_workbook(str(path), on_demand=True, ragged_rows=True, logfile=io.StringIO())
    try:
        ws = book.sheet_by_name(sheet)
        for r in range(ws.nrows):
            values = []
            for cell in ws.row(r):
                kind, value = cell.ctype, cell.value
                if kind == xlrd.XL_CELL_DATE:
                    try:
                        value = _as_date(xldate_as_datetime(value, book.datemode), value)
                    except (XLDateError, ValueError, OverflowError):
                        pass  # not a date Excel shows: the number
                elif kind == xlrd.XL_CELL_BOOLEAN:
                    value = bool(value)
                elif kind == xlrd.XL_CELL_ERROR:
                    value = xlrd.error_text_from_code.get(value, "#N/A")
                elif kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                    value = None
                values.append(value)
            yield r + 1, values
    finally:
        book.release_resources()


def _as_date(stamp, serial: float):
    if 0 <= serial < 1:
        return stamp.time()
    return stamp.date() if serial == int(serial) else stamp
