"""Facts of an xlsx workbook the Rust parsers use but do not report: which cell styles format a
number as a date, and whether the workbook counts dates from 1904."""

from __future__ import annotations

import re
import zipfile
import zlib

from defusedxml import ElementTree

_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
# built-in number formats that show a date or time (ECMA-376 18.8.30, with the CJK ones)
_BUILTIN_DATES = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)])
_LITERALS = re.compile(r'"[^"]*"|\\.|\[(?![hms]+\])[^\]]*\]', re.IGNORECASE)
STYLES_CAP = 64 << 20  # a styles part larger than this is not read for date styles


def date_styles(zf: zipfile.ZipFile) -> frozenset[int]:
    """Indexes (the `s` attribute of a cell) of the cell formats that show dates or times, as
    calamine decides it: a built-in date format, or a custom code with y, m, d, h or s outside
    quoted text and [colour] brackets. Empty when the styles part is missing or unreadable."""
    try:
        info = zf.getinfo("xl/styles.xml")
        if info.file_size > STYLES_CAP:
            return frozenset()
        root = ElementTree.fromstring(zf.read(info))
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError):
        return frozenset()  # a damaged part: the guard's own inflate of it says so
    custom = {
        int(f.get("numFmtId", -1)): _is_date_code(f.get("formatCode", ""))
        for f in root.iter(f"{_NS_MAIN}numFmt")
    }
    xfs = root.find(f"{_NS_MAIN}cellXfs")
    if xfs is None:
        return frozenset()
    out = set()
    for index, xf in enumerate(xfs.iter(f"{_NS_MAIN}xf")):
        try:
            fmt = int(xf.get("numFmtId", 0))
        except ValueError:
            continue
        if custom.get(fmt, fmt in _BUILTIN_DATES):
            out.add(index)
    return frozenset(out)


def _is_date_code(code: str) -> bool:
    return any(ch in "ymdhs" for ch in _LITERALS.sub("", code).lower())


def is_1904(workbook_xml_root) -> bool:
    """The workbook's `<workbookPr date1904>`: its serial numbers count days from 1904-01-01."""
    pr = workbook_xml_root.find(f"{_NS_MAIN}workbookPr")
    return pr is not None and pr.get("date1904", "").lower() in ("1", "true")
