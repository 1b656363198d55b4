"""What a spreadsheet file really is, from its first bytes (and, for a zip, its entry names),
whatever its name says; and whether the declared `kind` can read it.

Old ERPs write "xls" files that are SpreadsheetML 2003 XML or an HTML table: those are read
(readers/markup.py) when declared `xls`. Lotus, Quattro Pro, Numbers, SYLK, DIF and dBase files
are refused, naming the format and how to convert it."""

from __future__ import annotations

import zipfile
from pathlib import Path

from migrate.errors import SourceError

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
_ENCRYPTED_OLE = "EncryptionInfo".encode("utf-16-le")
_SPREADSHEETML = b"urn:schemas-microsoft-com:office:spreadsheet"
_LOTUS = (b"\x00\x00\x02\x00\x04\x04", b"\x00\x00\x02\x00\x06\x04", b"\x00\x00\x1a\x00")
_QUATTRO = (b"\x00\x00\x02\x00\x20\x51", b"\x00\x00\x02\x00\x21\x51")
_OLD_BIFF_BOF = (b"\x09\x00", b"\x09\x02", b"\x09\x04")  # BOF records of BIFF2, 3, 4 (no OLE2 container)
_DBASE_VERSIONS = frozenset(b"\x02\x03\x30\x31\x43\x63\x83\x8b\xcb\xf5\xfb")

# what -> (description, the kinds that read it)
FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "xlsx": ("an Excel workbook (.xlsx)", ("xlsx",)),
    "xlsb": ("an Excel binary workbook (.xlsb)", ("xlsb",)),
    "ods": ("an OpenDocument spreadsheet (.ods)", ("ods",)),
    "ole2": ("a legacy Excel 97-2003 (.xls) workbook", ("xls",)),
    "biff": ("an Excel 2.x-4.0 worksheet (BIFF2-4)", ("xls",)),
    "spreadsheetml": ("an Excel 2003 XML spreadsheet (SpreadsheetML)", ("xls",)),
    "html": ("an HTML page saved with a spreadsheet name", ("xls",)),
    "encrypted": ("a password-protected (encrypted) workbook", ()),  # xlsx with `password:`
    "numbers": ("an Apple Numbers document", ()),
    "lotus": ("a Lotus 1-2-3 worksheet (.wk1/.wk3/.wk4)", ()),
    "quattro": ("a Quattro Pro spreadsheet", ()),
    "sylk": ("a SYLK file (Symbolic Link)", ()),
    "dif": ("a DIF file (Data Interchange Format)", ()),
    "dbase": ("a dBase table (.dbf)", ()),
    "damaged zip": ("a damaged zip container", ()),
    "xml": ("an XML file that is no spreadsheet", ()),
    "binary": ("an unrecognised binary file", ()),
    "text": ("a text file (CSV or similar)", ("csv",)),
}


def sniff(path: Path, shown: str, kind: str, password: bool = False) -> str:
    """What the file is (a FORMATS key); refused when the declared kind cannot read it (an
    encrypted xlsx is read when the source gives its password)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    except FileNotFoundError:
        raise SourceError(f"{shown} does not exist.", hint="Check `path` in project.yaml.") from None
    except OSError as exc:
        raise SourceError(f"{shown} cannot be read: {exc.strerror}.") from None
    if not head:
        raise SourceError(f"{shown} is empty (0 bytes).", hint="Export the data again.")
    what = what_is(head, path)
    description, kinds = FORMATS[what]
    if what == "encrypted" and kind == "xlsx" and password:
        return what
    if kind not in kinds:
        raise SourceError(f"{shown} is declared as {kind} but is {description}.", hint=advice(what, kind))
    return what


def what_is(head: bytes, path: Path | None = None) -> str:
    if head.startswith(ZIP_MAGIC):
        return _zip_kind(path) if path is not None else "xlsx"
    if head.startswith(OLE2_MAGIC):
        return "encrypted" if _ENCRYPTED_OLE in head else "ole2"
    if head.startswith(b"PK"):
        return "damaged zip"
    if head[:2] in _OLD_BIFF_BOF and head[2:4] in (b"\x04\x00", b"\x06\x00"):
        return "biff"
    if head.startswith(_LOTUS):
        return "lotus"
    if head.startswith(_QUATTRO):
        return "quattro"
    text = head[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    lower = text.lower()
    if lower.startswith((b"<html", b"<!doctype html", b"<table")):
        return "html"
    if lower.startswith(b"<?xml"):
        return "spreadsheetml" if _SPREADSHEETML in head[:4096] else "xml"
    if text.startswith(b"ID;P"):
        return "sylk"
    if text.startswith(b"TABLE\r\n0,1") or text.startswith(b"TABLE\n0,1"):
        return "dif"
    if _is_dbase(head):
        return "dbase"
    if b"\x00" in head[:4096] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "binary"
    return "text"


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            mimetype = zf.read("mimetype")[:100] if "mimetype" in names else b""
    except Exception:  # noqa: BLE001 - a side probe: the zip guard says what is wrong with the zip
        return "xlsx"
    if "xl/workbook.bin" in names:
        return "xlsb"
    if mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
        return "ods"
    if "Index/Document.iwa" in names or "Index.zip" in names or any(n.startswith("Index/") for n in names):
        return "numbers"
    return "xlsx"  # or a zip that is no workbook: the zip guard and the workbook part say what is missing


def _is_dbase(head: bytes) -> bool:
    """A dBase header: a version byte, a plausible last-update date, a header length that fits
    32-byte field descriptors, and a 0x0D terminator where that length says."""
    if len(head) < 65 or head[0] not in _DBASE_VERSIONS or not (1 <= head[2] <= 12 and 1 <= head[3] <= 31):
        return False
    header_len = int.from_bytes(head[8:10], "little")
    return 65 <= header_len <= len(head) and (header_len - 33) % 32 == 0 and head[header_len - 1] == 0x0D


def advice(what: str, kind: str) -> str:
    """How to read the file: the kind to declare, or how to convert it."""
    if what == "encrypted":
        return (
            "Give the source `password: ${ENV_VAR}` (an .xlsx), or remove the password in Excel "
            "(File > Info > Protect Workbook) and export again."
        )
    kinds = FORMATS[what][1]
    if kinds:
        return f"Declare it with `kind: {kinds[0]}`."
    converters = {
        "numbers": "Open it in Numbers and use File > Export To > Excel (.xlsx).",
        "lotus": "Open it in LibreOffice Calc (which reads Lotus files) and save it as .xlsx.",
        "quattro": "Open it in LibreOffice Calc or Quattro Pro and save it as .xlsx.",
        "sylk": "Open it in Excel or LibreOffice Calc and save it as .xlsx.",
        "dif": "Open it in Excel or LibreOffice Calc and save it as .xlsx.",
        "dbase": "Open it in LibreOffice Calc (which reads .dbf) and save it as .xlsx, or export the table to CSV from its database.",
    }
    return converters.get(what, "Open it in Excel or LibreOffice Calc and save it as .xlsx.")
