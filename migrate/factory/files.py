"""Writing the legacy files byte-for-byte reproducibly.

openpyxl stamps the current time into docProps/core.xml and into every zip entry's
date; both are replaced by constants so the same seed gives identical bytes.
"""

from __future__ import annotations

import csv
import re
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlwt
from openpyxl import Workbook

from migrate.factory.manifest import Rows

EPOCH = datetime(2025, 1, 1, 0, 0, 0)  # the "export time" every generated workbook claims
_ZIP_DATE = (2025, 1, 1, 0, 0, 0)
_CORE_TIMES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def save_workbook(wb: Workbook, path: Path) -> None:
    """Save an openpyxl workbook, then rewrite it with constant times."""
    wb.properties.creator = "ERP export"
    wb.properties.created = EPOCH
    wb.properties.modified = EPOCH
    wb.properties.lastModifiedBy = None
    wb.save(path)
    freeze_zip(path)


def freeze_zip(path: Path) -> None:
    """Rewrite a zip with constant entry dates and constant document timestamps."""
    with zipfile.ZipFile(path) as src:
        entries = [(info.filename, src.read(info)) for info in src.infolist()]
    stamp = EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    tmp = path.with_suffix(path.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = _CORE_TIMES.sub(lambda m: m.group(1) + stamp + m.group(3), data)
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            out.writestr(info, data, compresslevel=6)
    tmp.replace(path)


def append_rows(ws, rows: Rows) -> None:
    """Append data rows to an openpyxl sheet; dates become serial-number date cells."""
    for values in rows.values:
        ws.append(values)
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"


def write_xls(path: Path, sheet: str, rows: Rows) -> None:
    """A BIFF8 workbook (Excel 97-2003), header on row 1, dates as serial date cells."""
    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet(sheet)
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for col, name in enumerate(rows.columns):
        ws.write(0, col, name)
    for r, values in enumerate(rows.values, start=1):
        for col, value in enumerate(values):
            if value is None:
                continue
            if isinstance(value, date):
                ws.write(r, col, value, date_style)
            else:
                ws.write(r, col, value)
    book.save(str(path))


def write_csv(path: Path, rows: Rows, encoding: str) -> None:
    """Header on line 1, then data lines; None is an empty field; CRLF as Excel writes them."""
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(rows.columns)
        writer.writerows([_text(v) for v in values] for values in rows.values)


def _text(value: Any) -> str:
    return "" if value is None else str(value)
