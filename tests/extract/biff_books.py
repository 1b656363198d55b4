"""Excel 97-2003 (BIFF8) workbooks built record by record, for what xlwt never writes: a shared
string split over CONTINUE records with the compressed/UTF-16 flag changing at the split, rich
text runs cut by a CONTINUE, a formula's cached text result (STRING) over CONTINUE records.
The stream is put in a compound document by xlwt's own writer (xlwt.CompoundDoc.XlsDoc).
Record layouts: [MS-XLS] 2.4 (BOF, CODEPAGE, BOUNDSHEET8, SST, CONTINUE, LABELSST, FORMULA,
STRING, EOF) and 2.5.293 (XLUnicodeRichExtendedString)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

MAX_DATA = 8224  # bytes of data in one BIFF8 record; more goes in CONTINUE records


def record(kind: int, data: bytes) -> bytes:
    assert len(data) <= MAX_DATA
    return struct.pack("<HH", kind, len(data)) + data


def continued(kind: int, parts: list[bytes]) -> bytes:
    """A record whose data is cut in `parts`: the first in the record, the rest in CONTINUEs."""
    return record(kind, parts[0]) + b"".join(record(0x003C, p) for p in parts[1:])


def chars(text: str, wide: bool) -> bytes:
    return text.encode("utf-16-le" if wide else "latin-1")


def pieces(text: str, room: int) -> list[tuple[str, bool]]:
    """`text` cut as Excel may cut it over CONTINUE records: the first piece in the `room` bytes
    left in the current record, each next one in a record of its own, stored compressed
    (Latin-1) where its characters allow and as UTF-16 where they do not, so the flag changes
    where the text changes script."""
    out: list[tuple[str, bool]] = []
    at = 0
    while at < len(text):
        wide = ord(text[at]) > 0xFF
        limit = (room if not out else MAX_DATA - 1) // (2 if wide else 1)
        end = at
        while end < len(text) and end - at < limit and (ord(text[end]) > 0xFF) == wide:
            end += 1
        out.append((text[at:end], wide))
        at = end
    return out


@dataclass
class Sst:
    """A shared-string table whose records are cut where the caller says (`split`)."""

    parts: list[bytes] = field(default_factory=lambda: [b""])
    count: int = 0

    def add(self, text: str, wide: bool, runs: int = 0) -> None:
        """A whole string in the current record (with `runs` formatting runs after it)."""
        flags = (1 if wide else 0) | (8 if runs else 0)
        head = struct.pack("<HB", len(text), flags) + (struct.pack("<H", runs) if runs else b"")
        self.parts[-1] += head + chars(text, wide) + b"\x00\x00\x00\x00" * runs
        self.count += 1

    def add_split(self, text: str, runs: int = 0, runs_cut: int = 0, first: int | None = None) -> None:
        """One string cut over records (`pieces`): its first piece fills the current record
        (or takes `first` bytes of it), each next one starts a CONTINUE with its own high-byte
        flag. `runs_cut` of its formatting runs stay in the last record; the rest start one
        more CONTINUE."""
        head_size = 3 + (2 if runs else 0)
        cut = pieces(text, first if first is not None else MAX_DATA - self.size() - head_size)
        flags = (1 if cut[0][1] else 0) | (8 if runs else 0)
        head = struct.pack("<HB", len(text), flags) + (struct.pack("<H", runs) if runs else b"")
        self.parts[-1] += head + chars(*cut[0])
        for piece, wide in cut[1:]:
            self.parts.append(bytes([1 if wide else 0]) + chars(piece, wide))
        if runs:
            self.parts[-1] += b"\x00\x00\x00\x00" * runs_cut
            self.parts.append(b"\x00\x00\x00\x00" * (runs - runs_cut))
        self.count += 1

    def size(self) -> int:
        """Bytes of data in the current record so far."""
        return len(self.parts[-1]) + (8 if len(self.parts) == 1 else 0)

    def records(self) -> bytes:
        first = struct.pack("<II", self.count, self.count) + self.parts[0]
        return continued(0x00FC, [first, *self.parts[1:]])


def label_sst(row: int, col: int, index: int) -> bytes:
    return record(0x00FD, struct.pack("<HHHI", row, col, 15, index))


def formula_text(row: int, col: int, pieces: list[tuple[str, bool]]) -> bytes:
    """A FORMULA (="...") whose cached result is text, and its STRING record cut over CONTINUEs:
    each piece after the first starts a CONTINUE with its own high-byte flag."""
    text = "".join(p for p, _ in pieces)
    result = b"\x00\x00\x00\x00\x00\x00\xff\xff"  # a text result, given by the next STRING record
    rgce = b"\x1e\x01\x00"  # ptgInt 1: the formula itself does not matter to a reader of values
    formula = record(
        0x0006, struct.pack("<HHH", row, col, 15) + result + struct.pack("<HIH", 0, 0, len(rgce)) + rgce
    )
    first = struct.pack("<HB", len(text), 1 if pieces[0][1] else 0) + chars(*pieces[0])
    rest = [bytes([1 if wide else 0]) + chars(piece, wide) for piece, wide in pieces[1:]]
    return formula + continued(0x0207, [first, *rest])


def label(row: int, col: int, text: str) -> bytes:
    return record(0x0204, struct.pack("<HHHHB", row, col, 15, len(text), 1) + chars(text, True))


def workbook(sheet: str, cells: list[bytes], sst: Sst | None = None, codepage: int = 1200) -> bytes:
    """The Workbook stream of one worksheet holding `cells` (records), 16 plain XF records
    (cells use XF 15, the default cell format)."""
    xf = struct.pack("<HHHBBBBIIH", 0, 0, 0xFFF5, 0x20, 0, 0, 0, 0, 0, 0x20C0)
    cell_xf = struct.pack("<HHHBBBBIIH", 0, 0, 0x0001, 0x20, 0, 0, 0, 0, 0, 0x20C0)
    font = struct.pack("<HHHHHBBBB", 200, 0, 0x7FFF, 400, 0, 0, 0, 0, 0) + struct.pack("<BB", 5, 0) + b"Arial"
    name = struct.pack("<BB", len(sheet), 1) + chars(sheet, True)
    head = (
        record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 0x06))
        + record(0x0042, struct.pack("<H", codepage))
        + b"".join(record(0x0031, font) for _ in range(5))
        + b"".join(record(0x00E0, xf) for _ in range(15))
        + record(0x00E0, cell_xf)
    )
    tail = (sst.records() if sst else b"") + record(0x000A, b"")
    boundsheet_size = 4 + 6 + len(name)
    offset = len(head) + boundsheet_size + len(tail)
    globals_ = head + record(0x0085, struct.pack("<IBB", offset, 0, 0) + name) + tail
    rows = 1 + max((struct.unpack_from("<H", c, 4)[0] for c in cells), default=0)
    body = (
        record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0010, 0x0DBB, 0x07CC, 0, 0x06))
        + record(0x0200, struct.pack("<IIHHH", 0, rows, 0, 4, 0))
        + b"".join(cells)
        + record(0x000A, b"")
    )
    return globals_ + body


def save(path: Path, stream: bytes) -> None:
    from xlwt.CompoundDoc import XlsDoc

    XlsDoc().save(str(path), stream)
