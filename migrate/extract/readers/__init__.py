"""Source readers: each turns one kind of source into raw rows with their physical row numbers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

Row = list  # raw cell values of one physical row, first column first


@dataclass
class RawSheet:
    """One sheet's rows as a spreadsheet parser gave them, plus what the parser cannot say."""

    name: str
    rows: Iterator[tuple[int, Row]]  # (1-based physical row, values)
    col_offset: int = 0  # the first value is in this 0-based column
    hidden_rows: frozenset[int] = frozenset()
    merged: tuple[tuple[int, int, int, int], ...] = ()  # (row0, col0, row1, col1), 1-based, inclusive
    formulas_without_value: tuple[tuple[int, str], ...] = ()  # (row, column letter)
    errors: tuple[tuple[int, int, str], ...] = ()  # error cells: (row, column 1-based, text shown)
    odd_dates: tuple[tuple[int, int, str], ...] = ()  # date-styled numbers that are no date: (row, col, raw)
    texts: tuple[tuple[int, int, str], ...] = ()  # texts as stored where the parser trimmed them
    reader: str = ""
    extras: dict = field(default_factory=dict)


def cell_text(value) -> str | None:
    """A cell as the text we stage: numbers without float noise, dates ISO, empty as NULL."""
    kind = type(value)
    if kind is str:
        return value if value != "" else None
    if value is None:
        return None
    if kind is float:
        if value != value:
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if kind is int:
        return str(value)
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is datetime:
        return value.isoformat(sep=" ")
    if kind is date or kind is time:
        return value.isoformat()
    if kind is timedelta:
        return str(value)
    return str(value)


def column_letter(index: int) -> str:
    """0-based column index -> Excel letters (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters
