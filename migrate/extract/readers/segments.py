"""The segmented xlsx read: a big sheet is parsed in parallel, piece by piece, while it is checked.

fastexcel parses a whole sheet before it hands anything over, on one core. Here the zip guard's
inflate of a big sheet part (guards.SheetInflate) is cut at row boundaries into *segments*, slices
of the sheet's XML. Each worker process wraps its slice in a small stored workbook with the
original's styles, shared strings and date system (read once per worker from the original, whose
other parts the guard has checked), parses it with fastexcel and turns it into staged text
(readers/fast.py); the parent lays them out in order (the header from the first segment, hidden,
empty and stop rows, extra columns: fast.first_segment_rows / later_segment_rows) and stages them
while later segments are still being inflated and parsed. Memory holds a few segments, whatever
the sheet's size, and every byte a parser sees has been through the guard first.

Placing rows: a later segment starts with a one-cell header row, just above its first row, in
column A, so its columns start at A and its first data row is known; the worker checks that the
header it got back is that row. A segment whose cells fastexcel cannot type strictly (mixed kinds)
or whose text only cells can give (times, durations) is read cell by cell by python-calamine.
Anything the parent cannot place (no `r` on a row, rows out of order, a header not in the first
segment) raises `Unsegmentable`, and the sheet is read whole after its guard pass is complete.
"""

from __future__ import annotations

import logging
import os
import re
import zipfile
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.extract.guards import (
    MERGE_RANGE,
    VALUE_CELL_IN_A,
    SheetInflate,
    SheetScan,
    grace_of,
    open_zip,
    scan_block,
)
from migrate.extract.readers import cell_text, fast
from migrate.workers import frozen_heap, scratch_dir, scratch_file, usable_cores, watch_parent, worker_context

if TYPE_CHECKING:  # the project model (pydantic, SQLAlchemy) stays out of segment workers
    from migrate.project import SourceSpec

SEGMENT_BYTES = int(os.environ.get("MIGRATE_XLSX_SEGMENT_BYTES", 8 << 20))  # bench: 8 MiB beat 2, 4, 16, 32
MARKER = "__migrate_segment__"  # the one-cell header of a later segment
SHEET = "s"  # the segment workbook's only sheet
_SHEET_PART = "xl/worksheets/sheet1.xml"
_SHEET_DATA = re.compile(rb"<sheetData\b[^>]*?(/?)>")
_DIMENSION = re.compile(rb"<dimension\b[^>]*/>")
_ROW_NUMBER = re.compile(rb'<row\b[^>]*?\br="(\d+)"')
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"


class Unsegmentable(Exception):
    """The sheet must be read whole (its guard pass has completed when this is raised)."""


def wanted(size: int) -> bool:
    """A sheet part big enough to be read in segments."""
    return size >= 2 * SEGMENT_BYTES


class Workers:
    """The segment workers of one workbook; `close()` ends them."""

    def __init__(self) -> None:
        self.count = max(1, min(4, usable_cores()))
        self.directory = scratch_dir()
        self.broken = False  # a worker was lost: the pool is not used again
        self.pool = ProcessPoolExecutor(
            self.count, mp_context=worker_context(), initializer=_warm, initargs=(os.getpid(),)
        )
        with frozen_heap():
            self.pool.submit(os.getpid).result()  # fork now, while the parent holds no segment data

    def close(self) -> None:
        self.pool.shutdown(wait=not self.broken, cancel_futures=True)


def _warm(parent: int) -> None:
    import fastexcel  # noqa: F401 - imported before the first segment arrives
    import pyarrow.compute  # noqa: F401

    watch_parent(parent)


@lru_cache(maxsize=4)
def _book_parts(source: str, stamp: int) -> tuple[tuple[str, bytes], ...]:
    """In a worker: the stored parts every segment workbook of `source` shares (its styles, shared
    strings and date system under a one-sheet workbook part), read once per worker."""
    parts = _workbook_parts(Path(source))
    overrides = [(f"/{_SHEET_PART}", f"{_CT}.worksheet+xml")]
    rels = [("rId1", "worksheet", "worksheets/sheet1.xml")]
    out = []
    with zipfile.ZipFile(source) as zf:
        for rel, kind in enumerate(("styles", "sharedStrings"), 2):
            if parts.get(kind):
                name = f"xl/{kind}.xml"
                out.append((name, zf.read(parts[kind])))
                overrides.append((f"/{name}", f"{_CT}.{kind}+xml"))
                rels.append((f"rId{rel}", kind, f"{kind}.xml"))
    date1904 = '<workbookPr date1904="1"/>' if parts.get("date1904") else ""
    out += [
        ("[Content_Types].xml", _content_types(overrides).encode()),
        ("_rels/.rels", _relationships([("rId1", "officeDocument", "xl/workbook.xml")]).encode()),
        (
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" xmlns:r="{_REL}">{date1904}'
            f'<sheets><sheet name="{SHEET}" sheetId="1" r:id="rId1"/></sheets></workbook>'.encode(),
        ),
        ("xl/_rels/workbook.xml.rels", _relationships(rels).encode()),
    ]
    del stamp  # in the cache key only: a source rewritten between extracts is read again
    return tuple(out)


def segment_book(source: str, xml: bytes, directory: str) -> str:
    """In a worker: a segment's sheet XML wrapped in a stored workbook, written to a file (fastexcel
    opens a path in 2 ms, bytes in 40: it copies them) in `directory`; the caller removes it."""
    name = scratch_file(directory, ".xlsx")
    with zipfile.ZipFile(name, "w", zipfile.ZIP_STORED) as zf:
        for part, data in _book_parts(source, os.stat(source).st_mtime_ns):
            zf.writestr(part, data)
        zf.writestr(_SHEET_PART, xml)
    return name


def _relationships(rels: list[tuple[str, str, str]]) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG}">'
        + "".join(f'<Relationship Id="{i}" Type="{_REL}/{k}" Target="{t}"/>' for i, k, t in rels)
        + "</Relationships>"
    )


def _content_types(overrides: list[tuple[str, str]]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
        + "".join(f'<Override PartName="{p}" ContentType="{t}"/>' for p, t in overrides)
        + "</Types>"
    )


def _workbook_parts(path: Path) -> dict:
    """The styles and shared-strings parts and the date system, from the (already guarded)
    workbook part and its relationships."""
    from defusedxml import ElementTree

    with zipfile.ZipFile(path) as zf:
        try:
            workbook = ElementTree.fromstring(zf.read("xl/workbook.xml"))
            rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
        except (KeyError, ElementTree.ParseError) as exc:
            raise Unsegmentable(f"the workbook part cannot be read ({exc})") from None
        names = set(zf.namelist())
    out: dict = {}
    for rel in rels.iter(f"{{{_PKG}}}Relationship"):
        kind = rel.get("Type", "").rsplit("/", 1)[-1]
        target = rel.get("Target", "")
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        if kind in ("styles", "sharedStrings") and part in names:
            out[kind] = part
    pr = workbook.find(f"{{{_MAIN}}}workbookPr")
    out["date1904"] = pr is not None and pr.get("date1904", "").lower() in ("1", "true")
    return out


@dataclass(frozen=True)
class Segment:
    index: int
    source: str  # the original workbook (its styles and shared strings)
    xml: str  # the scratch file holding the segment's sheet part (the worker removes it)
    first_row: int  # physical row of its first `<row>` (0 for the first segment: its header leads)
    size: int = 0  # bytes of the sheet part's rows it holds (how far through the sheet it reaches)


class Cutter:
    """Cuts a sheet part's whole-row blocks into segments of about `size` bytes. The first
    segment also holds at least `first_rows` rows, so the header search sees all it needs."""

    def __init__(self, source: str, first_rows: int, size: int, directory: str) -> None:
        self.source, self.first_rows, self.size, self.directory = source, first_rows, size, directory
        self.prologue: bytes | None = None
        self.ended = False
        self.index = 0
        self.last_row = 0  # the number of the last row cut
        self.first_has_a = False  # a filled cell in column A within the first segment
        self.trailer = b""  # what follows the rows (merged ranges are listed there)
        self.written: list[str] = []  # segment files (a worker removes each one it reads)
        self._pieces: list[bytes] = []
        self._size = 0
        self._rows = 0
        self._first_row = 0

    def feed(self, block: bytes) -> list[Segment]:
        """Segments completed by this block of whole rows."""
        if self.ended:
            self.trailer += block
            return []
        if self.prologue is None:
            block = self._take_prologue(block)
        # rows end before </sheetData>: look after the last row's end, not through the block
        end = block.find(b"</sheetData>", max(block.rfind(b"</row>"), 0))
        if end >= 0:
            block, self.trailer, self.ended = block[:end], block[end:], True
        done = []
        while block:
            if not self._pieces:
                self._open(block)
            room = max(self.size - self._size, 1)
            cut = block.find(b"<row", room) if len(block) > room else -1
            piece, block = (block, b"") if cut < 0 else (block[:cut], block[cut:])
            self._add(piece)
            if cut >= 0 and (self.index > 0 or self._rows >= self.first_rows):
                done.append(self._close())
        if self.ended and self._pieces:
            done.append(self._close())
        return done

    def finish(self) -> list[Segment]:
        return [self._close()] if self._pieces else []

    def _take_prologue(self, block: bytes) -> bytes:
        match = _SHEET_DATA.search(block)
        if match is None:
            raise Unsegmentable("no <sheetData> in the first block")
        if match.group(1):  # <sheetData/>: an empty sheet
            raise Unsegmentable("empty sheet")
        # the dimension would make each segment reserve the whole sheet's cells
        self.prologue = _DIMENSION.sub(b"", block[: match.end()])
        return block[match.end() :]

    def _open(self, block: bytes) -> None:
        first = _ROW_NUMBER.search(block, 0, 4096)  # the first block may start with white space
        if first is None:
            raise Unsegmentable("a row without its `r` number")
        number = int(first.group(1))
        if self.index and number <= self.last_row:
            raise Unsegmentable("rows out of order")
        self._pieces = [self.prologue or b""]
        self._first_row = number if self.index else 0
        if self.index:
            self._pieces.append(
                f'<row r="{number - 1}"><c r="A{number - 1}" t="inlineStr"><is><t>{MARKER}</t></is></c></row>'.encode()
            )
        self._size = self._rows = 0

    def _add(self, piece: bytes) -> None:
        self._pieces.append(piece)
        self._size += len(piece)
        last = _ROW_NUMBER.match(piece, max(piece.rfind(b"<row"), 0))
        self.last_row = int(last.group(1)) if last else self.last_row
        if self.index == 0:
            self._rows += piece.count(b"<row")
            self.first_has_a = self.first_has_a or bool(VALUE_CELL_IN_A.search(piece))

    def _close(self) -> Segment:
        if self.index == 0 and not self.first_has_a:
            raise Unsegmentable("column A is empty in the first segment")  # its columns would shift
        self._pieces.append(b"</sheetData></worksheet>")
        path = scratch_file(self.directory, ".xml")
        self.written.append(path)
        with open(path, "wb") as fh:
            fh.writelines(self._pieces)
        segment = Segment(self.index, self.source, path, self._first_row, self._size)
        self._pieces = []
        self.index += 1
        return segment


@dataclass(frozen=True)
class SegmentRead:
    """A worker's answer: the segment's text (see read_segment) and what the guard's row scan
    would have found in it."""

    text: object
    hidden_rows: frozenset[int]
    formulas_without_value: tuple[tuple[int, str], ...]
    errors: bool  # error cells: the sheet goes to the cell-typed path


def read_segment(segment: Segment, head: SheetScan | None, directory: str) -> SegmentRead:
    """In a worker: the segment scanned as the guard scans rows, then parsed."""
    with open(segment.xml, "rb") as fh:
        xml = fh.read()
    os.unlink(segment.xml)
    hidden: set[int] = set()
    formulas: list = []
    errors: list = []
    scan_block(xml, hidden, formulas, None, errors)
    if errors:
        return SegmentRead(None, frozenset(hidden), tuple(formulas), True)
    book = segment_book(segment.source, xml, directory)
    try:
        text = _segment_text(segment, book, head)
    finally:
        os.unlink(book)
    return SegmentRead(text, frozenset(hidden), tuple(formulas), False)


def _segment_text(segment: Segment, book: str, head: SheetScan | None):
    """The first segment: `fast.read_fast`'s (header texts, text columns), or None when the fast
    path cannot read it. A later one: its text columns, from column A."""
    import fastexcel

    if segment.index == 0:
        return fast.read_fast(Path(book), SHEET, head) or _first_cells(book)
    logging.getLogger("fastexcel").setLevel(logging.ERROR)  # "falling back to string" for empty columns
    try:
        reader = fastexcel.read_excel(book)
        table = reader.load_sheet(
            SHEET, header_row=0, schema_sample_rows=None, dtype_coercion="strict", eager=True
        )
    except Exception:  # noqa: BLE001 - mixed kinds in a column: cell by cell
        return _cell_columns(segment, book)
    if not table.schema.names or table.schema.names[0] != MARKER:
        raise Unsegmentable(f"segment {segment.index} does not start at its marker row")
    try:
        return fast.sheet_text(reader, SHEET, table)
    except fast.NeedsCells:
        return _cell_columns(segment, book)


def _first_cells(book: str) -> tuple[list, list]:
    """The first segment read cell by cell (python-calamine), as read_fast gives it: the first
    filled row's texts, then text columns from column A. fastexcel refuses a first segment whose
    first row is a title above the real header (its "header" sits over number columns); the
    header is then found by SheetLayout as usual, and the later segments stay fast."""
    import pyarrow as pa
    import python_calamine as calamine

    with calamine.CalamineWorkbook.from_path(book) as workbook:
        sheet = workbook.get_sheet_by_index(0)
        pad = [None] * (sheet.start[1] if sheet.start else 0)
        rows = [pad + row for row in sheet.to_python()]
    if not rows:
        raise Unsegmentable("an empty first segment")
    width = max(len(r) for r in rows)
    header = [cell_text(v) for v in rows[0]] + [None] * (width - len(rows[0]))
    data = rows[1:]
    return header, [
        pa.array([cell_text(r[j]) if j < len(r) else None for r in data], pa.string()) for j in range(width)
    ]


def _cell_columns(segment: Segment, book: str) -> list:
    """A segment read cell by cell (python-calamine), each cell as `cell_text` gives it."""
    import pyarrow as pa
    import python_calamine as calamine

    with calamine.CalamineWorkbook.from_path(book) as workbook:
        sheet = workbook.get_sheet_by_index(0)
        if sheet.start != (segment.first_row - 2, 0):
            raise Unsegmentable(f"segment {segment.index} does not start at its marker row")
        rows = sheet.to_python()[1:]  # from the range start: the marker row, then the data
    width = max((len(r) for r in rows), default=0)
    return [
        pa.array([cell_text(r[j]) if j < len(r) else None for r in rows], pa.string()) for j in range(width)
    ]


class SegmentedRead:
    """Iterating reads one deferred sheet part in segments, giving its staged rows segment by
    segment (fast.ArrowRows, whose header may widen). Raises Unsegmentable when the sheet must be
    read whole; rows already given are then to be dropped by the caller, and the sheet gets a
    guard pass of its own before it is read. Counts of rows not staged go to `skipped`; `settle`
    receives the sheet's scan once it has been read (None if it was not)."""

    def __init__(
        self,
        workers: Workers,
        path: Path,
        shown: str,
        part: str,
        sheet: str,
        spec: SourceSpec,
        settle: Callable[[str, SheetScan | None], None],
        shared_strings: int = 0,
    ):
        self.workers, self.path, self.shown, self.part = workers, path, shown, part
        self.sheet, self.spec, self.settle = sheet, spec, settle
        # every segment's worker parses the shared strings again: keep them a small share of it
        self.segment_bytes = max(SEGMENT_BYTES, 2 * shared_strings)
        self.skipped: Counter = Counter()
        self._header: list = []
        self._last = 0  # physical row of the last row placed
        self._stopped = False
        self._first_row = 0  # the first filled row (the first segment's header)
        self._hidden: set[int] = set()
        self._formulas: list[tuple[int, str]] = []
        self._part_size = 0  # the sheet part's inflated size
        self._placed_bytes = 0  # of it, the bytes of the segments placed so far

    def estimated_rows(self, staged: int) -> int | None:
        """The rows the whole sheet will give, from the share of its bytes placed so far (for a
        progress bar's total and ETA); None before the first segment. Always above `staged`
        until the caller settles the total: the bar must not end early."""
        if not self._placed_bytes or not self._part_size:
            return None
        share = min(1.0, self._placed_bytes / self._part_size)
        return max(staged + 1, round(staged / share))

    def __iter__(self) -> Iterator[fast.ArrowRows]:
        scan = None
        with open_zip(self.path, self.shown) as zf:
            info = zf.getinfo(self.part)
            self._part_size = info.file_size
            inflate = SheetInflate(
                zf,
                info,
                self.shown,
                scan_sheet=True,
                scan_rows=False,
                grace=grace_of(self.spec.inflate_limit_mb),
            )
            pending: deque[tuple[Segment, Future]] = deque()
            cutter = Cutter(
                str(self.path.resolve()), self._first_rows(), self.segment_bytes, self.workers.directory
            )
            try:
                yield from self._segments(inflate, cutter, pending)
                scan = self._scan(inflate)
            finally:
                for _, future in pending:
                    future.cancel()
                for path in cutter.written:  # those no worker read: cut, not sent, or cancelled
                    Path(path).unlink(missing_ok=True)
                self.settle(self.sheet, scan)

    def _segments(self, inflate: SheetInflate, cutter: Cutter, pending: deque) -> Iterator[fast.ArrowRows]:
        for block in inflate:
            if not inflate.facts.plain_cells:
                raise Unsegmentable("cells without an `r` reference")
            for segment in cutter.feed(block):
                pending.append((segment, self._submit(segment, inflate)))
            while len(pending) > self.workers.count:
                yield from self._place(*pending.popleft())
        for segment in cutter.finish():
            pending.append((segment, self._submit(segment, inflate)))
        if MERGE_RANGE.search(cutter.trailer) or not inflate.facts.column_a:
            raise Unsegmentable("merged ranges")
        while pending:
            yield from self._place(*pending.popleft())

    def _scan(self, inflate: SheetInflate) -> SheetScan:
        return inflate.facts.scan(self._hidden, self._formulas)

    def _first_rows(self) -> int:
        spec = self.spec
        return max(fast.HEAD_ROWS, (spec.header_row or 0) + spec.header_rows + 1) + 2

    def _submit(self, segment: Segment, inflate: SheetInflate) -> Future:
        head = None
        if segment.index == 0:
            facts = inflate.facts
            if not facts.first_row:
                raise Unsegmentable("no filled cell in the first segment")
            head = replace(facts.scan(), column_a=True)  # the cutter saw column A in this segment
            self._first_row = facts.first_row
        try:
            return self.workers.pool.submit(read_segment, segment, head, self.workers.directory)
        except BrokenProcessPool:
            self.workers.broken = True
            raise Unsegmentable("a segment worker was lost") from None

    def _place(self, segment: Segment, future: Future) -> Iterator[fast.ArrowRows]:
        try:
            read: SegmentRead = future.result()
        except Unsegmentable:
            raise
        except Exception as exc:  # noqa: BLE001 - a worker lost (killed, out of memory): read whole
            self.workers.broken = isinstance(exc, BrokenProcessPool)
            raise Unsegmentable(f"a segment worker failed: {exc}") from None
        if read.errors:
            raise Unsegmentable("error cells")
        self._hidden |= read.hidden_rows
        self._formulas += read.formulas_without_value
        hidden = frozenset(self._hidden)
        if segment.index == 0:
            if read.text is None:
                raise Unsegmentable("the first segment needs the cell-typed path")
            rows = fast.fast_rows(
                read.text, self._first_row, self.sheet, self.spec, hidden, self.skipped, more=True
            )
            if rows is None or not rows.header:
                raise Unsegmentable("the header is not within the first segment")
        elif self._stopped:
            self.skipped["after_stop"] += fast.filled_rows(read.text)
            return
        else:
            rows = fast.later_rows(
                read.text, segment.first_row, self._last, self._header, self.spec, hidden, self.skipped
            )
        self._header, self._last, self._stopped = rows.header, rows.last_row, rows.stopped
        self._placed_bytes += segment.size
        yield rows
