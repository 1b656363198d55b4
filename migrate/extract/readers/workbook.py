"""xlsx / xlsm / xls workbooks: fastexcel (Rust -> Arrow, readers/fast.py) for plain xlsx sheets,
python-calamine (Rust) cell by cell for the rest, openpyxl read-only streaming for sheets too
large to hold in memory. Every xlsx is checked by `guards` before either parser
opens it; the guard's inflate pass also finds hidden rows, merged ranges and formulas that
have no cached value, which neither fast parser reports."""

from __future__ import annotations

import os
import posixpath
import sys
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import datetime
from pathlib import Path

import python_calamine as calamine
from defusedxml import ElementTree

from migrate.errors import MigrateError, SourceError
from migrate.extract.formats import sniff
from migrate.extract.guards import (
    RATIO_GRACE,
    SheetInflate,
    SheetScan,
    check_declared,
    check_zip,
    open_zip,
    verify_defusedxml,
)
from migrate.extract.readers import RawSheet, fast, segments
from migrate.extract.readers.biff import (
    XlsFacts,
    calamine_misdecodes,
    old_biff_sheets,
    read_sparse,
    sparse_sheets,
    xlrd_sheets,
    xls_encrypted,
    xls_facts,
)
from migrate.extract.readers.fast import ArrowRows
from migrate.extract.readers.markup import MarkupBook
from migrate.extract.readers.ooxml import is_1904
from migrate.project import SourceSpec

# A sheet whose XML inflates past this is streamed by openpyxl (constant memory) rather than
# loaded whole by calamine (about 1 GB of RSS per 100 MB of sheet XML, measured in bench/extract.md).
STREAM_BYTES = int(os.environ.get("MIGRATE_XLSX_STREAM_BYTES", 300 << 20))

_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


_SHEET_KINDS = {  # by name: calamine's enum members are not hashable
    "ChartSheet": "a chart sheet",
    "DialogSheet": "a dialog sheet",
    "MacroSheet": "an Excel 4 macro sheet",
    "Vba": "a VBA module",
}
Chooser = Callable[[list[tuple[str, bool]]], list[str]]  # (name, visible) of every sheet -> read ones


class Workbook:
    """An opened, checked workbook: its sheets and a way to read each one. Given `choose` (which
    sheets the source reads), the big ones among them are left out of the up-front guard pass:
    the segmented read (readers/segments.py) runs their guard pass while it parses them."""

    def __init__(
        self,
        path: Path,
        shown: str,
        kind: str,
        choose: Chooser | None = None,
        password: str | None = None,
        grace: int = RATIO_GRACE,
    ) -> None:
        """`grace`: bytes a zip entry may inflate at any ratio (guards.grace_of a source's
        `inflate_limit_mb`)."""
        self.path, self.shown, self.kind, self.grace = path, shown, kind, grace
        self.what = sniff(path, shown, kind, password=bool(password))
        self._decrypted: Path | None = None  # a temporary copy we read instead, removed on close
        if self.what == "encrypted":
            self._decrypted = self.path = decrypt(path, shown, password or "")
            path = self.path
        if self.what == "ole2" and xls_encrypted(path):
            raise SourceError(
                f"{shown} is password-protected (an encrypted .xls).",
                hint="Open it in Excel with its password, remove the password (File > Info > Protect "
                "Workbook) and save it again, or save it as .xlsx and give the source `password:`.",
            )
        if kind == "xlsx" and (renames := _renames(path, shown, grace)):
            copy = normalised_copy(path, shown, renames, grace)
            if self._decrypted is not None:
                self._decrypted.unlink(missing_ok=True)
            self._decrypted = self.path = path = copy
        self.scans: dict[str, SheetScan] = {}
        self.part_sizes: dict[str, int] = {}
        self.deferred: dict[str, str] = {}  # sheet name -> part, its guard pass not run yet
        self.shared_strings = 0  # inflated bytes of the shared-strings part
        self.date_styles: frozenset[int] = frozenset()
        self.untrimmed: dict[int, str] = {}
        self.date1904 = False
        self.other_sheets: dict[str, str] = {}  # chart, dialog, macro sheets: no cells to stage
        self._workers: segments.Workers | None = None
        if kind == "xlsx":
            verify_defusedxml()
            defer = (lambda sizes: self._big_chosen(sizes, choose)) if choose else None
            zip_scan = check_zip(path, shown, defer=defer, grace=grace)
            self.date_styles, self.untrimmed = zip_scan.date_styles, zip_scan.untrimmed
            self.date1904 = _is_1904(path, shown)
            for name, part, _ in _sheet_entries(path, shown):
                if part in zip_scan.deferred:
                    self.deferred[name] = part
                else:
                    self.scans[name] = zip_scan.parts.get(part, SheetScan())
                self.part_sizes[name] = zip_scan.sizes.get(part, 0)
            self.shared_strings = sum(n for p, n in zip_scan.sizes.items() if p.endswith("sharedStrings.xml"))
        elif kind in ("xlsb", "ods"):
            check_zip(
                path, shown, sheet_parts=frozenset(), grace=grace
            )  # sizes, ratio, DTDs; no XML rows to scan
        self.markup = MarkupBook(path, shown, self.what) if self.what in ("spreadsheetml", "html") else None
        # read by xlrd, not calamine: an .xls with a large, nearly empty sheet, or BIFF2-4
        self.sparse = old_biff_sheets(path, shown) if self.what == "biff" else None
        if kind == "xls" and self.what == "ole2":
            self.sparse = sparse_sheets(path)
        self.book = _open_calamine(path, shown) if self.markup is None and self.sparse is None else None
        self.notes: list[str] = []  # warnings about the whole workbook
        if self.book is not None and kind == "xls" and self.what == "ole2":
            self._xlrd_if_misdecoded()

    def _xlrd_if_misdecoded(self) -> None:
        """An .xls whose text calamine mis-decodes (biff.calamine_misdecodes) is read by xlrd."""
        why = calamine_misdecodes(self.path, [meta.name for meta in self.book.sheets_metadata])
        if why is None:
            return
        self.book.close()
        self.book = None
        self.sparse = xlrd_sheets(self.path, self.shown)
        self.notes.append(
            f"{self.shown}: calamine mis-decodes its text ({why}); the workbook is read by xlrd instead."
        )

    def _big_chosen(self, sizes: dict[str, int], choose: Chooser) -> frozenset[str]:
        """Parts of the sheets the source reads that are big enough to read in segments."""
        entries = _sheet_entries(self.path, self.shown)
        try:
            chosen = set(choose([(name, visible) for name, _, visible in entries]))
        except SourceError:
            return frozenset()  # said again, in its place, when the sheets are chosen for real
        return frozenset(
            part for name, part, _ in entries if name in chosen and segments.wanted(sizes.get(part, 0))
        )

    def read_segments(self, name: str, spec: SourceSpec) -> segments.SegmentedRead | None:
        """The segmented read of a sheet left out of the guard pass, or None. Once it has run
        (to its end, or to Unsegmentable), the sheet's scan is known and `read` may read it whole."""
        part = self.deferred.get(name)
        if part is None or spec.header == "none":
            return None  # a sheet without a header is laid out row by row (SheetLayout)
        if self._workers is not None and self._workers.broken:
            self._workers.close()
            self._workers = None
        if self._workers is None:
            self._workers = segments.Workers()
        return segments.SegmentedRead(
            self._workers, self.path, self.shown, part, name, spec, self._settle, self.shared_strings
        )

    def _settle(self, name: str, scan: SheetScan | None) -> None:
        if scan is not None:
            self.scans[name] = scan
            self.deferred.pop(name, None)

    def scan_of(self, name: str) -> SheetScan:
        """A sheet's scan; a deferred sheet gets its guard pass now, before any parser reads it."""
        part = self.deferred.pop(name, None)
        if part is not None:
            with open_zip(self.path, self.shown) as zf:
                inflate = SheetInflate(zf, zf.getinfo(part), self.shown, scan_sheet=True, grace=self.grace)
                inflate.date_styles, inflate.untrimmed = self.date_styles, self.untrimmed
                for _ in inflate:
                    pass
            self.scans[name] = inflate.scan or SheetScan()
        return self.scans.get(name, SheetScan())

    def sheets(self) -> list[tuple[str, bool]]:
        """(name, visible) for every worksheet, in workbook order; chart sheets left out."""
        if self.markup is not None:
            return self.markup.sheets()
        if self.sparse is not None:
            return list(self.sparse)
        out = []
        for meta in self.book.sheets_metadata:
            if meta.typ != calamine.SheetTypeEnum.WorkSheet:
                self.other_sheets[meta.name] = _SHEET_KINDS.get(
                    str(meta.typ).rsplit(".", 1)[-1], "not a worksheet"
                )
                continue
            out.append((meta.name, meta.visible == calamine.SheetVisibleEnum.Visible))
        return out

    def read(self, name: str) -> RawSheet:
        if self.markup is not None:
            return self.markup.read(name)
        scan = self.scan_of(name)
        if self.part_sizes.get(name, 0) > STREAM_BYTES:
            return self._stream(name, scan)
        facts = xls_facts(self.path, name) if self.kind == "xls" else XlsFacts(scan.hidden_rows, scan.errors)
        if self.sparse is not None:
            return self._read_sparse(name, facts)
        with reader_boundary(self.shown, f"sheet {name}"):
            sheet = self.book.get_sheet_by_name(name)
            start = sheet.start
        merged = scan.merged if self.kind == "xlsx" else _calamine_merged(sheet)
        return RawSheet(
            name=name,
            rows=_guarded_rows(sheet, self.shown, name),
            col_offset=start[1] if start else 0,
            hidden_rows=facts.hidden_rows,
            merged=merged,
            formulas_without_value=scan.formulas_without_value,
            errors=facts.errors,
            extras={"hidden_rows_unknown": True} if facts.probe_failed else {},
            odd_dates=facts.odd_dates if self.kind == "xls" else scan.odd_dates,
            texts=facts.texts if self.kind == "xls" else scan.texts,
            reader="calamine",
        )

    def _read_sparse(self, name: str, facts: XlsFacts) -> RawSheet:
        """A large, nearly empty .xls sheet, row by row (biff.read_sparse); its errors are in
        the values already."""
        rows = read_sparse(self.path, name)

        def guarded() -> Iterator[tuple[int, list]]:
            while True:
                try:
                    item = next(rows, None)
                except BaseException as exc:  # noqa: BLE001 - see reader_boundary
                    raise _located(exc, self.shown, f"sheet {name}") from None
                if item is None:
                    return
                yield item

        return RawSheet(
            name=name,
            rows=guarded(),
            hidden_rows=facts.hidden_rows,
            merged=facts.merged,
            odd_dates=facts.odd_dates,
            texts=facts.texts,
            reader="xlrd",
        )

    def read_fast(self, name: str, spec: SourceSpec, skipped: Counter) -> ArrowRows | None:
        """The sheet's staged rows by the fast path (readers/fast.py), or None when it must be
        read cell by cell with `read`. xlsx sheets small enough to hold in memory qualify, and
        xlsb and ods sheets (their facts from calamine: `_calamine_scan`)."""
        if self.kind not in ("xlsx", "xlsb", "ods") or spec.header == "none":
            return None
        scan = self.scan_of(name) if self.kind == "xlsx" else self._calamine_scan(name)
        if scan is None or not fast.fast_ok(scan):
            return None
        self.scans[name] = scan
        if self.part_sizes.get(name, 0) > STREAM_BYTES:
            return None
        read = fast.read_fast(self.path, name, scan)
        if read is None:
            return None
        counts: Counter = Counter()
        rows = fast.fast_rows(read, scan.first_row, name, spec, scan.hidden_rows, counts)
        if rows is not None:
            skipped.update(counts)
        return rows

    def _calamine_scan(self, name: str) -> SheetScan | None:
        """What the fast path needs to know of an xlsb or ods sheet, which no guard pass reads:
        where calamine's range starts (fastexcel's header is its first row, its first column A),
        which header cells are filled and the header's numbers; merged ranges send the sheet
        to the cell path, as for xlsx. None when calamine cannot say (the cell path will)."""
        try:
            with reader_boundary(self.shown, f"sheet {name}"):
                sheet = self.book.get_sheet_by_name(name)
                start, first = sheet.start, next(iter(sheet.iter_rows()), [])
        except SourceError:
            return None
        if start is None:
            return None
        row, col = start
        numbers = [(col + i, repr(v)) for i, v in enumerate(first) if type(v) in (int, float)]
        return SheetScan(
            first_row=row + 1,
            column_a=col == 0,
            plain_cells=True,
            merged=_calamine_merged(sheet),
            first_row_filled=frozenset(col + i for i, v in enumerate(first) if v not in ("", None)),
            first_row_numbers=tuple(numbers),
        )

    def _stream(self, name: str, scan: SheetScan) -> RawSheet:
        import openpyxl

        book = openpyxl.load_workbook(self.path, read_only=True, data_only=True, keep_links=False)
        ws = book[name]
        ws.reset_dimensions()  # a wrong <dimension ref="A1"/> must not cut the read short

        def rows() -> Iterator[tuple[int, list]]:
            try:
                for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
                    yield number, [_as_calamine(v) for v in values]
            finally:
                book.close()

        return RawSheet(
            name=name,
            rows=rows(),
            hidden_rows=scan.hidden_rows,
            merged=scan.merged,
            formulas_without_value=scan.formulas_without_value,
            reader="openpyxl-stream",
        )

    def close(self) -> None:
        if (book := self.markup or self.book) is not None:
            book.close()
        if self._decrypted is not None:
            self._decrypted.unlink(missing_ok=True)
        if self._workers is not None:
            self._workers.close()


def _as_calamine(value):
    """openpyxl gives a datetime for every date-formatted cell; calamine a date when the time is
    midnight. Both paths must stage the same text, so midnight becomes a date here too."""
    if type(value) is datetime and not (value.hour or value.minute or value.second or value.microsecond):
        return value.date()
    return value


def _open_calamine(path: Path, shown: str) -> calamine.CalamineWorkbook:
    try:
        with reader_boundary(shown, ""):
            return calamine.CalamineWorkbook.from_path(str(path))
    except calamine.PasswordError:
        raise SourceError(
            f"{shown} is password-protected.", hint="Remove the password in Excel and export again."
        ) from None


@contextmanager
def reader_boundary(shown: str, what: str) -> Iterator[None]:
    """Around every call into a reader library: whatever it raises, a Rust panic included
    (pyo3's PanicException is a BaseException), becomes a SourceError naming the file; only an
    interrupt, an exit or our own errors pass through (`what`: the sheet; empty: opening). What
    the library prints goes to stderr, never to stdout (where --json writes)."""
    try:
        with redirect_stdout(sys.stderr):
            yield
    except BaseException as exc:  # noqa: BLE001 - see the docstring
        raise _located(exc, shown, what) from None


def _located(exc: BaseException, shown: str, what: str) -> BaseException:
    """The error to raise for what a reader raised: itself when it must pass through."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, MigrateError, calamine.PasswordError)):
        return exc
    where = f"{shown}, {what}" if what else shown
    if isinstance(exc, MemoryError):
        return SourceError(
            f"{where}: too large to read in the memory available.",
            hint="Split the workbook, or save it as .xlsx (read in bounded memory).",
        )
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return SourceError(
        f"{where}: cannot be read ({detail})."
        if what
        else f"{shown} cannot be read as a workbook ({detail}).",
        hint="Open it in Excel or LibreOffice and save it again.",
    )


def _guarded_rows(sheet, shown: str, name: str) -> Iterator[tuple[int, list]]:
    """The sheet's rows, each fetched inside the boundary (a plain try: once per row, cheap)."""
    rows = enumerate(sheet.iter_rows(), start=1)
    while True:
        try:
            item = next(rows, None)
        except BaseException as exc:  # noqa: BLE001 - see reader_boundary
            raise _located(exc, shown, f"sheet {name}") from None
        if item is None:
            return
        yield item


def _calamine_merged(sheet) -> tuple[tuple[int, int, int, int], ...]:
    try:
        ranges = sheet.merged_cell_ranges or ()
    except Exception:  # noqa: BLE001 - formats without merge records
        return ()
    return tuple((r0 + 1, c0 + 1, r1 + 1, c1 + 1) for (r0, c0), (r1, c1) in ranges)


def _renames(path: Path, shown: str, grace: int) -> dict[str, str] | None:
    """Entry renames that put a workbook where calamine and the guard look, or None when it is
    there already: backslashes to slashes (some Windows writers), and a workbook part that
    `_rels/.rels` names in xl/ under another name (xl/book.xml) to xl/workbook.xml."""
    try:
        with zipfile.ZipFile(path) as zf:
            check_declared(zf.infolist(), shown, grace)
            names = [n.replace("\\", "/") for n in zf.namelist()]
            renames = {n: n.replace("\\", "/") for n in zf.namelist() if "\\" in n}
            part = _office_document(zf) if "xl/workbook.xml" not in names else None
    except SourceError:
        raise
    except Exception:  # noqa: BLE001 - a side probe: the guard says what is wrong with the zip
        return None
    if part and part in names and posixpath.dirname(part) == "xl":
        base = posixpath.basename(part)
        renames[part] = "xl/workbook.xml"
        renames[f"xl/_rels/{base}.rels"] = "xl/_rels/workbook.xml.rels"
    return renames or None


def _office_document(zf: zipfile.ZipFile) -> str | None:
    """The workbook part `_rels/.rels` names (its officeDocument relationship)."""
    rels_name = next((n for n in zf.namelist() if n.replace("\\", "/") == "_rels/.rels"), None)
    if rels_name is None:
        return None
    rels = ElementTree.fromstring(zf.read(rels_name))
    for rel in rels.iter(f"{_NS_PKG_REL}Relationship"):
        if rel.get("Type", "").endswith("/officeDocument"):
            return rel.get("Target", "").lstrip("/")
    return None


def normalised_copy(path: Path, shown: str, renames: dict[str, str], grace: int = RATIO_GRACE) -> Path:
    """A copy of the zip with entries renamed (`_renames`), so the guard and the parsers find
    the parts where they look. The declared sizes are checked first, and no entry is copied
    past its declared size (zipfile stops there)."""
    import tempfile

    with open_zip(path, shown) as zf:
        check_declared(zf.infolist(), shown, grace)
        handle, name = tempfile.mkstemp(prefix="migrate-normalised-", suffix=".xlsx")
        os.close(handle)
        try:
            with zipfile.ZipFile(name, "w", zipfile.ZIP_DEFLATED) as out:
                for info in zf.infolist():
                    with (
                        zf.open(info) as src,
                        out.open(_renamed(info.filename, renames), "w", force_zip64=True) as dst,
                    ):
                        while block := src.read(1 << 20):
                            dst.write(block)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            Path(name).unlink(missing_ok=True)
            raise SourceError(f"{shown} is damaged: its zip cannot be read ({exc}).") from None
    return Path(name)


def _renamed(name: str, renames: dict[str, str]) -> str:
    slashed = renames.get(name, name.replace("\\", "/"))
    return renames.get(slashed, slashed)


def decrypt(path: Path, shown: str, password: str) -> Path:
    """An encrypted xlsx decrypted into a private temporary file (mode 0600), which the caller
    removes; a wrong password or a damaged file is a SourceError naming the file, never the
    password."""
    import tempfile

    import msoffcrypto

    handle, name = tempfile.mkstemp(prefix="migrate-decrypted-", suffix=".xlsx")
    out = Path(name)
    try:
        with path.open("rb") as fh, os.fdopen(handle, "wb") as sink:
            office = msoffcrypto.OfficeFile(fh)
            office.load_key(password=password)
            office.decrypt(sink)
    except Exception as exc:  # noqa: BLE001 - msoffcrypto's own errors: wrong password, unsupported
        out.unlink(missing_ok=True)
        wrong = "password" in str(exc).lower() or "key" in type(exc).__name__.lower()
        raise SourceError(
            f"{shown} is password-protected and "
            + (
                "the password given does not open it."
                if wrong
                else f"cannot be decrypted ({type(exc).__name__})."
            ),
            hint="Check the environment variable its `password:` names.",
        ) from None
    return out


def _is_1904(path: Path, shown: str) -> bool:
    with zipfile.ZipFile(path) as zf:
        try:
            return is_1904(ElementTree.fromstring(zf.read("xl/workbook.xml")))
        except Exception:  # noqa: BLE001 - the guard and _sheet_entries say what is wrong with the part
            return False


def _sheet_entries(path: Path, shown: str) -> list[tuple[str, str, bool]]:
    """(sheet name, zip part name, visible), from xl/workbook.xml and its relationships (defusedxml)."""
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        for part in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels"):
            if part not in names:
                raise SourceError(
                    f"{shown} is not an Excel workbook: {part} is missing from the zip.",
                    hint="Open it in Excel or LibreOffice and save it as .xlsx.",
                )
        try:
            workbook = ElementTree.fromstring(zf.read("xl/workbook.xml"))
            rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
        except ElementTree.ParseError as exc:
            raise SourceError(f"{shown} is damaged: its workbook part is not valid XML ({exc}).") from None
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter(f"{_NS_PKG_REL}Relationship")}
    entries = []
    for sheet in workbook.iter(f"{_NS_MAIN}sheet"):
        target = targets.get(sheet.get(f"{_NS_REL}id"), "")
        part = (
            target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        )
        entries.append((sheet.get("name", ""), part, sheet.get("state", "visible") == "visible"))
    return entries
