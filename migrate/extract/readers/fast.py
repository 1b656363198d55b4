"""The xlsx fast path: fastexcel (Rust calamine -> Arrow) reads a sheet into typed Arrow columns,
pyarrow.compute turns each column into exactly the text `cell_text` stages, and the sheet layout
(header, hidden, empty and stop rows, extra columns) is applied to whole columns. No Python
object is made per cell until the rows are bound for SQLite.

Why typed columns and not fastexcel's `dtypes="string"`: its float -> text keeps 9 decimals
(0.30000000000000004 -> "0.3", 1/3 -> "0.333333333"), which would lose digits. So each column
is read with its own type, inferred over every row with `dtype_coercion="strict"`: a column
that mixes kinds (numbers and texts, numbers and booleans) makes fastexcel refuse, and the sheet
goes to the cell-typed calamine path. The header is fastexcel's header row (its first row).

| column type | staged text (as cell_text)                         | sent to calamine             |
|-------------|----------------------------------------------------|------------------------------|
| string      | as read; "" -> NULL                                | -                            |
| float       | integers without ".0"; others Python's repr        | integers 2**63 .. 1e21       |
| boolean     | TRUE / FALSE                                       | -                            |
| datetime    | date at midnight, else "YYYY-MM-DD HH:MM:SS"        | before 1905 (times), with ms |
| duration, other kinds, duplicate or `_n`-suffixed header names | -           | the whole sheet              |

Sheets with merged ranges, error cells, cells without an `r` reference before the first filled
cell, nothing in column A, or a date/time/boolean cell in the header row (the zip guard tells)
also go to calamine, as does a header found below the rows SheetLayout is handed (HEAD_ROWS).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from migrate.extract.guards import SheetScan
from migrate.extract.layout import SheetLayout
from migrate.extract.readers import RawSheet, cell_text, column_letter

if TYPE_CHECKING:  # the project model (pydantic, SQLAlchemy) stays out of segment workers
    from migrate.project import SourceSpec

# fastexcel names a header's repeated texts in time that grows faster than the width: a 2-row
# sheet of 16,384 "x" ran for minutes. Wider sheets are read by calamine, cell by cell.
FAST_MAX_COLUMNS = 1024
HEAD_ROWS = 200  # rows handed to SheetLayout to find the header (it looks at 30 filled rows)
_MS_PER_DAY = 86_400_000
_FIRST_DATE_MS = -2_051_222_400_000  # 1905-01-01: earlier "dates" are times of day or durations
_LAST_DATE_MS = 253_402_300_799_000  # 9999-12-31 23:59:59: later serials are numbers, not dates
_DEDUPED = re.compile(r"_\d+$")  # fastexcel renames a repeated header `a` to `a_1`


class NeedsCells(Exception):
    """A column whose text only the cell-typed path can give."""


@dataclass(frozen=True)
class ArrowRows:
    """A sheet's staged rows as columns: physical row numbers and one text column per header name."""

    header: list[str]
    numbers: pa.Array
    columns: list[pa.Array]
    last_row: int = 0  # physical row of the range's last row (the segmented read goes on from it)
    stopped: bool = False  # a stop row was met: nothing after it is staged

    def __len__(self) -> int:
        return len(self.numbers)

    def chunks(self, size: int) -> Iterator[tuple[pa.Array, list[pa.Array]]]:
        for start in range(0, len(self.numbers), size):
            yield self.numbers[start : start + size], [c[start : start + size] for c in self.columns]


def fast_ok(scan: SheetScan) -> bool:
    """The guard saw everything the fast path needs to place the sheet's cells."""
    return (
        scan.first_row > 0
        and scan.column_a
        and scan.plain_cells
        and not scan.merged
        and not scan.errors
        and not scan.odd_dates
        and not scan.texts
        and max(scan.first_row_filled, default=0) < FAST_MAX_COLUMNS
    )


def read_fast(path: Path, name: str, scan: SheetScan) -> tuple[list, list] | None:
    """(header texts, text columns from column A) of a sheet, or None when it must be read cell
    by cell (see the module docstring)."""
    import fastexcel

    quiet = logging.getLogger("fastexcel")
    level, quiet.level = quiet.level, logging.ERROR  # "falling back to string" for empty columns
    try:
        try:
            reader = fastexcel.read_excel(str(path))
            table = reader.load_sheet(
                name, header_row=0, schema_sample_rows=None, dtype_coercion="strict", eager=True
            )
        except Exception:  # noqa: BLE001 - mixed kinds in a column, or anything: calamine says what
            return None
        header = _header(table.schema.names, scan)
        if header is None:
            return None
        names = [h for h in header if h is not None]
        if len(set(names)) != len(names) or any(_DEDUPED.search(h) for h in names):
            return None
        return header, sheet_text(reader, name, table)
    except NeedsCells:
        return None
    finally:
        quiet.level = level


def sheet_text(reader, name: str, table: pa.RecordBatch) -> list[pa.Array]:
    """A typed sheet's columns as cell_text's strings. fastexcel reads the texts pandas counts as
    missing ("NA", "N/A", "NULL", "nan"...) as null in a column it types as numbers, dates or
    booleans: such a column with nulls is read again as text, and where the typed read has a null
    the text read's value (a text cell's own text; empty cells are null in both) is staged."""
    suspects = [i for i, column in enumerate(table.columns) if _may_hide_texts(column)]
    texts = {}
    if suspects:
        again = reader.load_sheet(
            name, header_row=0, use_columns=suspects, dtypes={i: "string" for i in suspects}, eager=True
        )
        texts = dict(zip(suspects, again.columns, strict=True))
    out = []
    for i, column in enumerate(table.columns):
        text = as_cell_text(column)  # null where the typed read has null, NaN or infinity
        out.append(pc.coalesce(text, texts[i]) if i in texts else text)
    return out


def _header(names: list[str], scan: SheetScan) -> list | None:
    """The header row's texts as cell_text gives them. fastexcel names an empty header cell
    __UNNAMED__<position>, but a date, time or boolean one too: the guard, which saw the row,
    tells them apart (those go to calamine). Number cells get their text from the raw value,
    not from fastexcel's shortened one."""
    header: list = []
    for position, name in enumerate(names):
        if name == f"__UNNAMED__{position}":
            if position in scan.first_row_filled:
                return None
            name = None
        header.append(name)
    for position, raw in scan.first_row_numbers:
        try:
            value = float(raw)
        except ValueError:
            return None
        if position < len(header):
            header[position] = cell_text(value)
    return header


def _may_hide_texts(column: pa.Array) -> bool:
    """A typed column with nulls, or with NaN or infinity (no Excel number is either: a "nan" or
    "inf" text read as a number)."""
    if pa.types.is_string(column.type) or pa.types.is_null(column.type):
        return False
    if column.null_count:
        return True
    return pa.types.is_floating(column.type) and not pc.all(pc.is_finite(column)).as_py()


def as_cell_text(column: pa.Array) -> pa.Array:
    """One typed column -> cell_text's strings, whole-column operations only."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    if pa.types.is_null(kind):
        return pa.nulls(len(column), pa.string())
    if pa.types.is_floating(kind):
        return _float_text(column)
    if pa.types.is_integer(kind):  # xlsb's integer cells (RK): cell_text gives str(int)
        return column.cast(pa.string())
    if pa.types.is_boolean(kind):
        return pc.if_else(column, "TRUE", "FALSE")
    if pa.types.is_timestamp(kind):
        return _datetime_text(column)
    raise NeedsCells(str(kind))


def _float_text(column: pa.Array) -> pa.Array:
    """Integral values as integers (12.0 -> "12"); others as Python's repr, whose digits Arrow's
    cast gives too, but in exponent form from about 1e10 and in plain form below 1e-4: those
    few are formatted by numpy, which follows repr."""
    values = column.to_numpy(zero_copy_only=False)
    finite = ~np.isnan(values)
    magnitude = np.abs(np.where(finite, values, 0.0))
    integral = finite & (values == np.floor(np.where(finite, values, 0.0)))
    if np.any(integral & (magnitude >= 2.0**63) & (magnitude < 1e21)):
        raise NeedsCells("integer beyond int64")
    as_int = integral & (magnitude < 2.0**63)
    text = pc.cast(column, pa.string())
    if as_int.any():
        ints = pa.array(np.where(as_int, values, 0.0).astype(np.int64)).cast(pa.string())
        text = pc.if_else(pa.array(as_int), ints, text)
    odd = finite & ~as_int & ((magnitude < 1e-4) | (magnitude >= 1e9))
    if odd.any():
        text = pc.replace_with_mask(text, pa.array(odd), pa.array(values[odd].astype(str)))
    return pc.if_else(pa.array(finite), text, pa.scalar(None, pa.string()))


def _datetime_text(column: pa.Array) -> pa.Array:
    """python-calamine gives a date for midnight, a datetime otherwise (seconds, ISO with a space)."""
    ms = column.cast(pa.timestamp("ms")).cast(pa.int64())
    values = ms.to_numpy(zero_copy_only=False)
    present = ~np.isnan(values) if values.dtype.kind == "f" else np.ones(len(values), dtype=bool)
    whole = np.where(present, values, 0)
    if np.any(present & ((whole < _FIRST_DATE_MS) | (whole > _LAST_DATE_MS) | (whole % 1000 != 0))):
        raise NeedsCells("time of day, duration, milliseconds or past 9999")
    seconds = column.cast(pa.timestamp("ms")).cast(pa.timestamp("s"))
    midnight = present & (whole % _MS_PER_DAY == 0)
    if not midnight.any():
        return seconds.cast(pa.string())
    dates = seconds.cast(pa.date32()).cast(pa.string())
    if midnight.sum() == present.sum():
        return dates  # a date column: no time to show
    return pc.if_else(pa.array(midnight), dates, seconds.cast(pa.string()))


def fast_rows(
    read: tuple[list, list],
    first_row: int,
    sheet: str,
    spec: SourceSpec,
    hidden: frozenset[int],
    skipped: Counter,
    more: bool = False,
) -> ArrowRows | None:
    """The staged rows of a sheet read by `read_fast` (its header row, then its data columns), laid
    out as `SheetLayout` lays out rows: the header found among the first rows by SheetLayout itself,
    the rest decided column-wise. None when the header is not within the rows handed over (`more`:
    rows follow these, in later segments)."""
    header_texts, columns = read
    height = len(columns[0]) if columns else 0
    head = max(HEAD_ROWS, (spec.header_row or 0) - first_row + spec.header_rows + 1)
    seen: Counter = Counter()
    rows = _head_rows(header_texts, columns, first_row, min(head, height), seen)
    layout = SheetLayout(RawSheet(name=sheet, rows=rows, hidden_rows=hidden), spec, Counter())
    if seen["rows"] > min(head, height) and (more or height > head):
        return None  # the header search ran past the rows handed over
    _merge(skipped, layout.skipped)
    if not layout.header:
        return ArrowRows([], pa.array([], pa.int64()), [], last_row=first_row + height)
    # data row i is physical row first_row + 1 + i (row first_row is fastexcel's header)
    start = min(max(layout.header_row + spec.header_rows - first_row - 1, 0), height)
    numbers = pa.array(np.arange(first_row + 1 + start, first_row + 1 + height, dtype=np.int64))
    data = [c[start:] for c in columns]
    return _placed(data, numbers, list(layout.header), spec, hidden, skipped, first_row + height)


def later_rows(
    columns: list[pa.Array],
    first_row: int,
    after: int,
    header: list[str],
    spec: SourceSpec,
    hidden: frozenset[int],
    skipped: Counter,
) -> ArrowRows:
    """A later segment's rows (its data row i is physical row first_row + i) laid out with the
    header so far. Rows after `after` (the last row placed) and before first_row hold no value:
    they are placed as empty rows, as one range over the whole sheet would hold them."""
    height = len(columns[0]) if columns else 0
    if height == 0:
        return ArrowRows(list(header), pa.array([], pa.int64()), [], last_row=after)
    gap = first_row - after - 1
    if gap > 0:
        columns = [pa.concat_arrays([pa.nulls(gap, c.type), c]) for c in columns]
    numbers = pa.array(np.arange(after + 1, first_row + height, dtype=np.int64))
    return _placed(columns, numbers, list(header), spec, hidden, skipped, first_row + height - 1)


def filled_rows(columns: list[pa.Array]) -> int:
    """Rows holding some value (a segment after the stop row counts them as `after_stop`)."""
    return _count(_any_valid(columns, len(columns[0]))) if columns else 0


def _placed(data, numbers: pa.Array, header: list[str], spec, hidden, skipped, last_row: int) -> ArrowRows:
    keep, stopped = _kept_rows(data, numbers, spec, hidden, skipped)
    header = _widened(header, data, keep)
    width = len(header)
    picked = [c.filter(keep) for c in data[:width]]
    picked += [pa.nulls(len(numbers.filter(keep)), pa.string())] * (width - len(picked))
    return ArrowRows(header, numbers.filter(keep), picked, last_row=last_row, stopped=stopped)


def _merge(into: Counter, counts: Counter) -> None:
    for key, value in counts.items():
        into[key] += value


def _head_rows(header: list, columns, first_row: int, count: int, seen: Counter) -> Iterator:
    """The header row and the first data rows, as the (row, texts) SheetLayout reads."""
    seen["rows"] += 1
    yield first_row, list(header)
    lists = [c[:count].to_pylist() for c in columns]
    for i, values in enumerate(zip(*lists, strict=True)):
        seen["rows"] += 1
        yield first_row + 1 + i, list(values)


def _kept_rows(data, numbers: pa.Array, spec: SourceSpec, hidden, skipped: Counter) -> tuple[pa.Array, bool]:
    """The rows SheetLayout.chunks would stage, counting the others by reason, in its order:
    after a stop row, hidden, empty, the stop row itself; and whether a stop row was met."""
    n = len(numbers)
    filled = _any_valid(data, n)
    is_hidden = (
        pc.is_in(numbers, value_set=pa.array(sorted(hidden), pa.int64()))
        if hidden and not spec.include_hidden
        else pa.array(np.zeros(n, dtype=bool))
    )
    empty_skip = pc.and_(pc.invert(filled), pa.scalar(bool(spec.skip_empty_rows)))
    stop_at = _stop_index(data, filled, is_hidden, spec) if spec.stop_at else n
    before = pa.array(np.arange(n) < stop_at)
    visible = pc.and_(before, pc.invert(is_hidden))
    skipped["hidden_row"] += _count(pc.and_(before, is_hidden))
    skipped["empty_row"] += _count(pc.and_(visible, empty_skip))
    if stop_at < n:
        skipped["stop_row"] += 1
        skipped["after_stop"] += _count(filled[stop_at + 1 :])
    return pc.and_(visible, pc.invert(empty_skip)), stop_at < n


def _stop_index(data, filled, is_hidden, spec: SourceSpec) -> int:
    """First visible row whose first filled cell matches `stop_at` (a Python regex, tried once
    per distinct first value, not once per row)."""
    stop = re.compile(spec.stop_at)
    first = pc.coalesce(*data) if data else pa.nulls(len(filled), pa.string())
    distinct = pc.unique(first).drop_null().to_pylist()
    matching = [v for v in distinct if v and stop.search(v)]
    if not matching:
        return len(filled)
    hit = pc.and_(pc.is_in(first, value_set=pa.array(matching, pa.string())), pc.invert(is_hidden))
    hits = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
    return int(hits[0]) if len(hits) else len(filled)


def _widened(header: list[str], data, keep: pa.Array) -> list[str]:
    """Cells right of the header hold data: name those columns by letter, as SheetLayout does."""
    last = -1
    for index in range(len(header), len(data)):
        if _count(pc.and_(keep, data[index].is_valid())):
            last = index
    while len(header) <= last:
        header.append(f"column_{column_letter(len(header)).lower()}")
    return header


def _any_valid(data, n: int) -> pa.Array:
    filled = pa.array(np.zeros(n, dtype=bool))
    for column in data:
        if column.null_count < len(column):
            filled = pc.or_(filled, column.is_valid())
    return filled


def _count(mask) -> int:
    return int(pc.sum(mask).as_py() or 0)
