"""Checks run on an untrusted file before any parser touches it.

An xlsx is a zip of XML parts: a 1 MB file can inflate to gigabytes (a zip bomb), and
an XML part can declare entities that expand without end (a billion-laughs bomb). Like
Apache POI we check the zip's entry count, declared sizes and compression ratio (100:1)
first, then inflate every entry once with a byte cap, so a lying header cannot get past,
and refuse any part that declares a DTD: no legitimate xlsx part has one.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from migrate.errors import ConfigError, SourceError
from migrate.extract.formats import sniff  # noqa: F401 - refusals by content live in formats.py
from migrate.extract.readers.ooxml import date_styles, scan_untrimmed, untrimmed_shared_strings

MAX_ENTRIES = 10_000
MAX_RATIO = 100  # uncompressed : compressed, per entry (Apache POI's default)
# The ratio alone refuses genuine files (a sheet of repeated rows compresses 121:1 and more):
# an entry may inflate this far at any ratio; past it, the ratio limit applies. 16 MB of sheet
# XML is about 160 MB for calamine to hold, well inside the 512 MB bound. A source may raise it
# (`inflate_limit_mb`, whose documented default is this).
RATIO_GRACE = 16 << 20
MAX_ENTRY_BYTES = 4 << 30
MAX_TOTAL_BYTES = 8 << 30
_READ = 1 << 20

_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
# Tags may carry a namespace prefix (`<x:row>`, written by .NET's Open XML SDK), and attributes
# come in any order (LibreOffice writes `hidden` before `r`)
_P = rb"(?:[A-Za-z_][\w.-]*:)?"
_HIDDEN_ROW = re.compile(
    rb"<"
    + _P
    + rb'row\b[^>]*?\br="(\d+)"[^>]*?\bhidden="(?:1|true)"|<'
    + _P
    + rb'row\b[^>]*?\bhidden="(?:1|true)"[^>]*?\br="(\d+)"'
)
# a cell with a formula and no <v> (cached value): <c r="B3"><f>A1+1</f></c> or <f .../>
_F = rb"(?:<" + _P + rb"f\b[^>]*/>|<" + _P + rb"f\b[^>]*>[^<]*</" + _P + rb"f>)"
_FORMULA_NO_VALUE = re.compile(
    rb"<"
    + _P
    + rb'c\b[^>]*?\br="([A-Z]+)(\d+)"[^>]*>\s*'
    + _F
    + rb"\s*(?:<"
    + _P
    + rb"v\s*/>|<"
    + _P
    + rb"v>\s*</"
    + _P
    + rb"v>)?\s*</"
    + _P
    + rb"c>"
)

_ERROR_CELL = re.compile(
    rb"<"
    + _P
    + rb'c\b[^>]*?\br="([A-Z]+)(\d+)"[^>]*?\bt="e"[^>]*>\s*'
    + _F
    + rb"?\s*<"
    + _P
    + rb"v>([^<]*)</"
    + _P
    + rb"v>"
)
# a number cell that may not be a date although its style shows one: negative, or past
# 9999-12-31 (serial 2,958,465); its style is checked against the workbook's date styles
_ODD_DATE = re.compile(rb"<" + _P + rb"v>(?:-|\d{7})")
_NUMBER_CELL = re.compile(
    rb"<" + _P + rb"c\b([^>]*?)(?<!/)>\s*(?:" + _F + rb"\s*)?<" + _P + rb"v>([-+]?[\d.]+(?:[Ee][-+]?\d+)?)</"
)
_ATTR_R = re.compile(rb'\br="([A-Z]+)(\d+)"')
_ATTR_S = re.compile(rb'\bs="(\d+)"')
_ATTR_T = re.compile(rb'\bt="([a-zA-Z]+)"')
LAST_SERIAL = 2958465  # 9999-12-31 in the 1900 system
MERGE_RANGE = re.compile(rb"<" + _P + rb'mergeCell\b[^>]*?\bref="([A-Z]+)(\d+):([A-Z]+)(\d+)"')
# A cell calamine counts as filled: a non-empty <v> (numbers, shared strings, errors, cached
# formula results) or an inline string, even an empty one. Used to place fastexcel's columns.
_VALUE = rb'"[^>]*?(?<!/)>\s*(?:<f\b[^>]*?(?:/>|>[^<]*</f>)\s*)?(?:<v>[^<]|<is\b)'
_VALUE_CELL = re.compile(rb'<c r="[A-Z]+(\d+)' + _VALUE)
VALUE_CELL_IN_A = re.compile(rb'<c r="A\d+' + _VALUE)
_OTHER_CELL_TAGS = (b"<c>", b"<c/>", b"<c\n", b"<c\t", b"<c\r")
_ROW_CELL = re.compile(rb'<c r="([A-Z]+)\d+"([^>]*?)(?:/>|>(.*?)</c>)', re.DOTALL)
_CELL_TYPE = re.compile(rb'\bt="([a-zA-Z]+)"')
_NUMBER_VALUE = re.compile(rb"<v>([^<]+)</v>")


def verify_defusedxml() -> None:
    """openpyxl parses with defusedxml only when it is installed and not switched off."""
    from openpyxl.xml import DEFUSEDXML

    if not DEFUSEDXML:
        raise ConfigError(
            "defusedxml is not active for openpyxl, so XML entity expansion would be allowed.",
            hint="Install defusedxml and unset OPENPYXL_DEFUSEDXML before extracting workbooks.",
        )


@dataclass(frozen=True)
class SheetScan:
    """What the parsers do not report, found while inflating a sheet part."""

    hidden_rows: frozenset[int] = frozenset()
    formulas_without_value: tuple[tuple[int, str], ...] = ()  # (row, column letter)
    merged: tuple[tuple[int, int, int, int], ...] = ()  # (row0, col0, row1, col1), 1-based
    # error cells (#DIV/0!, #N/A): calamine gives them as empty; we stage the text Excel shows
    errors: tuple[tuple[int, int, str], ...] = ()  # (row, column 1-based, text)
    # for the fast path (readers/fast.py): where fastexcel's first row and column are
    first_row: int = 0  # row of the first filled cell; 0 = none found
    column_a: bool = False  # some filled cell is in column A (fastexcel's first column is A)
    plain_cells: bool = False  # every cell tag is `<c r="...`, so the two facts above are exact
    # the first filled row (fastexcel's header): filled columns (0-based), and the raw `<v>` of
    # its number cells, whose text fastexcel shortens ("0.3" for 0.30000000000000004)
    first_row_filled: frozenset[int] = frozenset()
    first_row_numbers: tuple[tuple[int, str], ...] = ()
    # numbers in date-formatted cells that are no date (negative, past 9999): calamine would give
    # a time of day for -1; the number is staged instead, with a warning
    odd_dates: tuple[tuple[int, int, str], ...] = ()  # (row, column 1-based, raw number)
    # texts with white space at an edge and no xml:space="preserve", which calamine would trim
    texts: tuple[tuple[int, int, str], ...] = ()  # (row, column 1-based, text as stored)


@dataclass
class _FastFacts:
    """What the fast path needs to know about a sheet part, gathered block by block."""

    first_row: int = 0
    column_a: bool = False
    plain_cells: bool = True
    first_row_filled: frozenset[int] = frozenset()
    first_row_numbers: tuple[tuple[int, str], ...] = ()

    def feed(self, data: bytes) -> None:
        """Only the blocks up to the first filled cell are looked at for cell tags without an `r`:
        the start row is that cell's row whatever comes later, and a writer that leaves `r` out
        leaves it out from the first cell on."""
        if not self.first_row:
            if self.plain_cells and (
                data.count(b"<c ") != data.count(b'<c r="') or any(t in data for t in _OTHER_CELL_TAGS)
            ):
                self.plain_cells = False
            if m := _VALUE_CELL.search(data):
                self.first_row = int(m.group(1))
                self._first_row_cells(data, m.start())
        if not self.column_a and VALUE_CELL_IN_A.search(data):
            self.column_a = True

    def scan(self, hidden=(), formulas=(), merged=(), errors=(), odd_dates=(), texts=()) -> SheetScan:
        """These facts with what the rows' scan found."""
        return SheetScan(
            frozenset(hidden),
            tuple(formulas),
            tuple(merged),
            tuple(errors),
            first_row=self.first_row,
            column_a=self.column_a,
            plain_cells=self.plain_cells,
            first_row_filled=self.first_row_filled,
            first_row_numbers=self.first_row_numbers,
            odd_dates=tuple(odd_dates),
            texts=tuple(texts),
        )

    def _first_row_cells(self, data: bytes, at: int) -> None:
        """The filled cells of the row holding the first filled cell (whole rows per block)."""
        start = data.rfind(b"<row", 0, at)
        end = data.find(b"</row>", at)
        filled, numbers = set(), []
        for m in _ROW_CELL.finditer(data[max(start, 0) : end if end >= 0 else len(data)]):
            letters, attrs, inner = m.group(1), m.group(2), m.group(3) or b""
            if not (b"<is" in inner or _NUMBER_VALUE.search(inner)):
                continue
            column = _col_index(letters) - 1
            filled.add(column)
            kind = _CELL_TYPE.search(attrs)
            if (kind is None or kind.group(1) == b"n") and (v := _NUMBER_VALUE.search(inner)):
                numbers.append((column, v.group(1).decode("ascii", "replace")))
        self.first_row_filled, self.first_row_numbers = frozenset(filled), tuple(numbers)


@dataclass
class ZipScan:
    parts: dict[str, SheetScan] = field(default_factory=dict)  # sheet part name -> scan
    sizes: dict[str, int] = field(default_factory=dict)  # part name -> inflated bytes
    total_bytes: int = 0
    deferred: frozenset[str] = frozenset()  # sheet parts left for `SheetInflate` (declared sizes checked)
    date_styles: frozenset[int] = frozenset()  # cell styles showing dates (readers/ooxml.py)
    untrimmed: dict[int, str] = field(default_factory=dict)  # shared strings calamine would trim


def check_zip(
    path: Path,
    shown: str,
    sheet_parts: frozenset[str] | None = None,
    defer: Callable[[dict[str, int]], frozenset[str]] | None = None,
    grace: int = RATIO_GRACE,
) -> ZipScan:
    """Check declared sizes, then inflate each entry with a cap; scan sheet parts on the way.
    The other parts are inflated before the worksheets, so `defer` may read them (the workbook
    part, its relationships) to name, from the parts' declared sizes, worksheet parts whose
    inflate the caller does later, block by block, with `SheetInflate` (the segmented xlsx read
    overlaps it with parsing)."""
    zf = open_zip(path, shown)
    with zf:
        infos = zf.infolist()
        check_declared(infos, shown, grace)
        scan = ZipScan(date_styles=date_styles(zf), untrimmed=untrimmed_shared_strings(zf))
        later: frozenset[str] = frozenset()
        infos.sort(key=lambda info: info.filename.startswith("xl/worksheets/"))  # stable
        for info in infos:
            if info.is_dir():
                continue
            if defer is not None and info.filename.startswith("xl/worksheets/"):
                later, defer = defer({i.filename: i.file_size for i in infos}), None
            scan.sizes[info.filename] = info.file_size
            scan.total_bytes += info.file_size
            if info.filename in later:
                continue
            is_sheet = sheet_parts is None or info.filename in sheet_parts
            inflate = SheetInflate(
                zf,
                info,
                shown,
                scan_sheet=is_sheet and info.filename.startswith("xl/worksheets/"),
                grace=grace,
            )
            inflate.date_styles, inflate.untrimmed = scan.date_styles, scan.untrimmed
            for _ in inflate:
                pass
            if inflate.scan is not None:
                scan.parts[info.filename] = inflate.scan
        scan.deferred = later
    return scan


def open_zip(path: Path, shown: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError):  # e.g. "zip file version 17.2"
        raise SourceError(
            f"{shown} is damaged or truncated: it is not a complete zip container.",
            hint="Copy or export the workbook again.",
        ) from None


def grace_of(inflate_limit_mb: int | None) -> int:
    """The bytes a zip entry may inflate at any ratio, for a source's `inflate_limit_mb`."""
    return inflate_limit_mb << 20 if inflate_limit_mb else RATIO_GRACE


def check_declared(infos: list[zipfile.ZipInfo], shown: str, grace: int = RATIO_GRACE) -> None:
    if len(infos) > MAX_ENTRIES:
        raise SourceError(
            f"{shown} is refused: its zip holds {len(infos):,} entries (limit {MAX_ENTRIES:,})."
        )
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise SourceError(f"{shown} is refused: zip entry {info.filename} is encrypted.")
        _check_size(info.filename, info.file_size, info.compress_size, shown, grace)
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise SourceError(
                f"{shown} is refused: it would inflate to more than {MAX_TOTAL_BYTES >> 30} GiB (a zip bomb?)."
            )


def _check_size(name: str, size: int, compressed: int, shown: str, grace: int = RATIO_GRACE) -> None:
    if size > MAX_ENTRY_BYTES:
        raise SourceError(f"{shown} is refused: zip entry {name} inflates to {size:,} bytes (a zip bomb?).")
    if size > grace and size > MAX_RATIO * max(compressed, 1):
        raise SourceError(
            f"{shown} is refused: zip entry {name} inflates {size // max(compressed, 1):,} times "
            f"(limit {MAX_RATIO}:1), as zip bombs do.",
            hint=f"If the file is genuine, raise the source's `inflate_limit_mb` (now {grace >> 20}: "
            f"MB allowed at any ratio) above the {size >> 20} MB that entry inflates to, or open it in "
            "Excel and save it again.",
        )


class SheetInflate:
    """One entry inflated with a cap, never past its declared size; DTDs refused. Iterating gives
    blocks of whole rows (a sheet's XML cut before a `<row`); `scan` is set once it is exhausted."""

    def __init__(
        self,
        zf: zipfile.ZipFile,
        info: zipfile.ZipInfo,
        shown: str,
        scan_sheet: bool,
        scan_rows: bool = True,
        grace: int = RATIO_GRACE,
    ) -> None:
        """`scan_rows=False`: only the facts of the first rows are gathered (the segmented read
        has its workers scan the rows), and `scan` stays None."""
        self.zf, self.info, self.shown, self.scan_sheet = zf, info, shown, scan_sheet
        self.scan_rows, self.grace = scan_rows, grace
        self.facts = _FastFacts()
        self.hidden: set[int] = set()
        self.formulas: list[tuple[int, str]] = []
        self.merged: list[tuple[int, int, int, int]] = []
        self.errors: list[tuple[int, int, str]] = []
        self.date_styles: frozenset[int] = frozenset()  # set by the caller to find odd dates
        self.odd_dates: list[tuple[int, int, str]] = []
        self.untrimmed: dict[int, str] = {}  # set by the caller: shared strings calamine would trim
        self.texts: list[tuple[int, int, str]] = []
        self.scan: SheetScan | None = None

    def __iter__(self) -> Iterator[bytes]:
        info, shown = self.info, self.shown
        seen, tail = 0, b""
        try:
            with self.zf.open(info) as fh:
                while chunk := fh.read(_READ):
                    seen += len(chunk)
                    if seen > info.file_size:
                        raise SourceError(
                            f"{shown} is refused: zip entry {info.filename} inflates past its declared size."
                        )
                    _check_size(info.filename, seen, info.compress_size, shown, self.grace)
                    data = tail + chunk if tail else chunk
                    if (
                        seen == len(chunk)
                        and info.filename.endswith((".xml", ".rels"))
                        and _DTD.search(data[:4096])
                    ):
                        raise SourceError(
                            f"{shown} is refused: part {info.filename} declares a DTD or entities "
                            "(an XML entity bomb?); workbooks saved by Excel never do."
                        )
                    if self.scan_sheet:
                        block, tail = self._whole_rows(data)
                        if block:
                            yield block
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            raise SourceError(
                f"{shown} is damaged: zip entry {info.filename} cannot be read ({exc})."
            ) from None
        if seen < info.file_size:
            raise SourceError(f"{shown} is damaged: zip entry {info.filename} is shorter than declared.")
        if self.scan_sheet:
            self._feed(tail)
            if tail:
                yield tail
            self.scan = self._result() if self.scan_rows else None

    def _whole_rows(self, data: bytes) -> tuple[bytes, bytes]:
        """(the block up to the last `<row` start, so no row is split across reads; the rest)."""
        cut = data.rfind(b"<row")
        if cut <= 0:
            cut = _last_prefixed_row(data)
        if cut <= 0:
            if len(data) < 64 << 20:
                return b"", data
            cut = len(data)  # one row longer than 64 MB: scan it as it is
        block = data[:cut]
        self._feed(block)
        return block, data[cut:]

    def _feed(self, block: bytes) -> None:
        if self.scan_rows:
            scan_block(block, self.hidden, self.formulas, self.merged, self.errors)
            if self.date_styles:
                scan_odd_dates(block, self.date_styles, self.odd_dates)
            scan_untrimmed(block, self.untrimmed, self.texts)
        self.facts.feed(block)

    def _result(self) -> SheetScan:
        return self.facts.scan(
            self.hidden, self.formulas, self.merged, self.errors, self.odd_dates, self.texts
        )


# literal searches by `re` are faster than `in` on long blocks (bench: 0.3 s vs 0.45 s per 200 MB)
_HAS_HIDDEN = re.compile(rb"hidden=")
_HAS_FORMULA = re.compile(rb"[<:]f[\s>/]")  # `<f` or a prefixed `<x:f`
_HAS_ERROR = re.compile(rb't="e"')
_PREFIX_TAG = re.compile(rb"<[A-Za-z_][\w.-]*")


def _last_prefixed_row(data: bytes) -> int:
    """Start of the last `<x:row` in a block (-1: none), found from the end: a regex search
    would try every start position of a long block without rows."""
    at = data.rfind(b":row")
    while at > 0:
        start = data.rfind(b"<", max(0, at - 64), at)
        if start >= 0 and _PREFIX_TAG.fullmatch(data, start, at) and data[at + 4 : at + 5] in b" >/\t\r\n":
            return start
        at = data.rfind(b":row", 0, at)
    return -1


_HAS_MERGE = re.compile(rb"mergeCell ")


def scan_block(data: bytes, hidden: set[int], formulas: list, merged: list | None, errors: list) -> None:
    """Hidden rows, formulas without a cached value, error cells and (unless `merged` is None:
    rows alone cannot hold them) merged ranges in a block of whole rows."""
    if _HAS_HIDDEN.search(data):
        for m in _HIDDEN_ROW.finditer(data):
            hidden.add(int(m.group(1) or m.group(2)))
    if _HAS_FORMULA.search(data):
        for m in _FORMULA_NO_VALUE.finditer(data):
            formulas.append((int(m.group(2)), m.group(1).decode()))
    if _HAS_ERROR.search(data):
        for m in _ERROR_CELL.finditer(data):
            errors.append((int(m.group(2)), _col_index(m.group(1)), m.group(3).decode("utf-8", "replace")))
    if merged is not None and _HAS_MERGE.search(data):
        for m in MERGE_RANGE.finditer(data):
            c0, r0, c1, r1 = m.groups()
            merged.append((int(r0), _col_index(c0), int(r1), _col_index(c1)))


def scan_odd_dates(data: bytes, date_styles: frozenset[int], out: list) -> None:
    """Number cells with a date style whose value is no date Excel shows: negative, or past
    9999-12-31. Only blocks holding such a `<v>` are scanned cell by cell."""
    if not _ODD_DATE.search(data):
        return
    for m in _NUMBER_CELL.finditer(data):
        attrs, raw = m.group(1), m.group(2)
        style, kind, at = _ATTR_S.search(attrs), _ATTR_T.search(attrs), _ATTR_R.search(attrs)
        if style is None or at is None or (kind is not None and kind.group(1) != b"n"):
            continue
        if int(style.group(1)) not in date_styles:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if value < 0 or value >= LAST_SERIAL + 1:
            out.append((int(at.group(2)), _col_index(at.group(1)), raw.decode("ascii")))


def _col_index(letters: bytes) -> int:
    """Excel letters -> 1-based column number."""
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n
