"""How results look on a terminal and in a pipe: numbers, times, tables that survive 80 columns.

- Numbers one way everywhere: thousands separators; exact decimals without trailing zeros.
- Times in the project's time zone, with the offset (`2026-03-01 16:05 +08:00`).
- Tables: key columns (entity, source, phase...) are never cut. On a narrow terminal the
  other columns wrap first; if even that does not fit, the table turns vertical (one block
  of `column: value` lines per row). Piped, the console has no width limit: plain full lines.
- Lists cut short say how many were left out ("… and 12 more").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

KEY_HEADERS = frozenset({"entity", "source", "phase", "point", "gate", "value map", "table", "check"})


def number(value: Any) -> str:
    """12,345 / 1,234.5 (exact, no trailing zeros) / '' for None; anything else as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        exact = value.normalize()
        if exact == exact.to_integral_value():
            exact = exact.quantize(Decimal(1))
        return f"{exact:,f}"
    if isinstance(value, float):
        return number(Decimal(repr(value))) if value == value and abs(value) != float("inf") else str(value)
    return str(value)


def when(moment: datetime | None, timezone: str | None = None) -> str:
    """A timestamp in the project's time zone (UTC if none is set), with its offset."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the toolkit stores UTC
    zone = ZoneInfo(timezone) if timezone else UTC
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S ") + f"{offset[:3]}:{offset[3:]}"


def more(shown: int, total: int) -> str:
    """The line that ends a cut list ('' when nothing was left out)."""
    return f"… and {number(total - shown)} more" if total > shown else ""


def table(*headers: str, title: str | None = None, numeric: Sequence[str] = ()) -> Table:
    """A result table: key columns never wrap or shrink, numbers right-aligned, the rest wraps."""
    grid = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    for header in headers:
        key = header in KEY_HEADERS
        grid.add_column(
            header,
            justify="right" if header in numeric else "left",
            no_wrap=key,
            overflow="fold",
            min_width=len(header) if not key else None,
        )
    return grid


def print_table(console: Console, grid: Table) -> None:
    """Print `grid` whole: as a table where it fits, else vertically (never a cut key)."""
    for column in grid.columns:
        if column.header in KEY_HEADERS:
            column.no_wrap = True
            column.min_width = max((len(str(c)) for c in column.cells), default=0) or None
    if console.measure(grid).minimum <= console.width:
        console.print(grid)
        return
    console.print(vertical(grid))


def vertical(grid: Table) -> Group:
    """One block per row: `header: value` lines, a blank line between rows."""
    headers = [str(c.header) for c in grid.columns]
    width = max(len(h) for h in headers)
    cells = [list(c.cells) for c in grid.columns]
    blocks: list[Any] = [Text(str(grid.title), style="bold")] if grid.title else []
    for row in zip(*cells, strict=True):
        for header, value in zip(headers, row, strict=True):
            line = Text(f"{header.rjust(width)}: ")
            line.append(value if isinstance(value, Text) else Text.from_markup(str(value)))
            blocks.append(line)
        blocks.append(Text(""))
    return Group(*blocks)
