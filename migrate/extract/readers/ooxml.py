"""Facts of an xlsx workbook the Rust parsers use but do not report: which cell styles format a
number as a date, whether the workbook counts dates from 1904, and which texts they would trim."""

from __future__ import annotations

import re
import zipfile

from defusedxml import ElementTree

_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
# built-in number formats that show a date or time (ECMA-376 18.8.30, with the CJK ones)
BUILTIN_DATES = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)])
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
    except Exception:  # noqa: BLE001 - a damaged part: the guard's own inflate of it says so
        return frozenset()
    custom = {
        int(f.get("numFmtId", -1)): is_date_code(f.get("formatCode", ""))
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
        if custom.get(fmt, fmt in BUILTIN_DATES):
            out.add(index)
    return frozenset(out)


def is_date_code(code: str) -> bool:
    return any(ch in "ymdhs" for ch in _LITERALS.sub("", code).lower())


def is_1904(workbook_xml_root) -> bool:
    """The workbook's `<workbookPr date1904>`: its serial numbers count days from 1904-01-01."""
    pr = workbook_xml_root.find(f"{_NS_MAIN}workbookPr")
    return pr is not None and pr.get("date1904", "").lower() in ("1", "true")


# ---------------------------------------------------------------- text calamine trims
# Excel writes xml:space="preserve" on every <t> whose text starts or ends with white space;
# other writers do not, and calamine then trims the text. Such texts are found here and staged
# as stored (the layout overlays them on calamine's cells).

SST_CAP = 256 << 20  # a larger shared-strings part is not searched (its sheets stage calamine's text)
_SI = re.compile(rb"<si\b[^>]*?(?:/>|>(.*?)</si>)", re.DOTALL)
_PHONETIC = re.compile(rb"<rPh\b.*?</rPh>", re.DOTALL)  # reading hints: calamine leaves them out
_T = re.compile(rb"<t\b([^>]*)>([^<]*)</t>")
_SHARED_CELL = re.compile(rb'<c\b([^>]*?\bt="s"[^>]*)>\s*<v>(\d+)</v>')
_INLINE_CELL = re.compile(rb'<c\b([^>]*?\bt="inlineStr"[^>]*)>\s*<is>(.*?)</is>', re.DOTALL)
_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);")
_ESCAPE = re.compile(r"_x([0-9a-fA-F]{4})_")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def untrimmed_shared_strings(zf: zipfile.ZipFile) -> dict[int, str]:
    """Shared-string index -> its text as stored, for the strings calamine would trim."""
    try:
        info = zf.getinfo("xl/sharedStrings.xml")
        if info.file_size > SST_CAP:
            return {}
        data = zf.read(info)
    except Exception:  # noqa: BLE001 - see date_styles
        return {}
    if not has_edge_space(data):
        return {}
    return {
        i: text
        for i, m in enumerate(_SI.finditer(data))
        if (text := _untrimmed(m.group(1) or b"")) is not None
    }


def has_edge_space(data: bytes) -> bool:
    """Some <t> may start or end with white space (literal searches: fast on long blocks)."""
    return any(mark in data for mark in _EDGE_MARKS)


_EDGE_MARKS = (b"<t> ", b" </t>", b"<t>\n", b"\n</t>", b"<t>\t", b"\t</t>", b"<t>\r", b"\r</t>")


def scan_untrimmed(data: bytes, shared: dict[int, str], out: list) -> None:
    """(row, column, text) of the cells of a block of rows whose text calamine would trim."""
    if shared and b't="s"' in data:
        for m in _SHARED_CELL.finditer(data):
            text = shared.get(int(m.group(2)))
            if text is not None and (at := _REF.search(m.group(1))):
                out.append((int(at.group(2)), _column(at.group(1)), text))
    if b"inlineStr" in data and has_edge_space(data):
        for m in _INLINE_CELL.finditer(data):
            text = _untrimmed(m.group(2))
            if text is not None and (at := _REF.search(m.group(1))):
                out.append((int(at.group(2)), _column(at.group(1)), text))


def _untrimmed(inner: bytes) -> str | None:
    """The text of an <si>/<is> as stored, if a <t> of it without xml:space="preserve" has white
    space at an edge (which calamine drops); else None."""
    parts = _T.findall(_PHONETIC.sub(b"", inner) if b"<rPh" in inner else inner)
    if not any(b"preserve" not in attrs and raw != raw.strip(b" \t\r\n") for attrs, raw in parts):
        return None
    text = "".join(_decode(raw) for _, raw in parts)
    return text


def _decode(raw: bytes) -> str:
    text = _ENTITY.sub(_entity, raw.decode("utf-8", "replace"))
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _entity(m: re.Match) -> str:
    name = m.group(1)
    if name.startswith("#x"):
        return chr(int(name[2:], 16))
    if name.startswith("#"):
        return chr(int(name[1:]))
    return _NAMED[name]


def _column(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n
