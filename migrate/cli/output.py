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
from rich.cells import cell_len
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

MAX_WORD = 40  # a longer "word" (a URL, a hash) may be folded rather than force a vertical table
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


SINGULAR = {"entities": "entity", "entries": "entry"}


def counted(n: int, plural: str) -> str:
    """'1 signature', '2 signatures', '1 entity': a count with its noun in the right number."""
    word = plural if n != 1 else SINGULAR.get(plural, plural.removesuffix("s"))
    return f"{number(n)} {word}"


def more(shown: int, total: int) -> str:
    """The line that ends a cut list ('' when nothing was left out)."""
    return f"… and {number(total - shown)} more" if total > shown else ""


class ResultTable(Table):
    """A rich table that knows which of its columns may be left out on a narrow terminal."""

    secondary: tuple[str, ...] = ()

    def add_row(self, *cells: Any, **options: Any) -> None:
        """Text cells are plain: values from legacy data or project files ('[/QA] 李娜') are not
        markup (rich raised MarkupError); a styled cell is given as a rich Text."""
        super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells), **options)


def table(
    *headers: str, title: str | None = None, numeric: Sequence[str] = (), secondary: Sequence[str] = ()
) -> Table:
    """A result table: key columns never wrap or shrink, numbers right-aligned, the rest wraps.
    `secondary` columns are left out, last first, where the table would not fit otherwise
    (a caption names them); only then does the table turn vertical."""
    # a rule under the header and two spaces between columns: the most table in 80 columns
    grid = ResultTable(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for header in headers:
        key = header in KEY_HEADERS
        grid.add_column(
            header,
            justify="right" if header in numeric else "left",
            no_wrap=key,
            overflow="fold",  # only a word longer than its column (a URL) is folded, never cut
        )
    grid.secondary = tuple(secondary)
    return grid


def print_table(console: Console, grid: Table) -> None:
    """Print `grid` whole: as a table where it fits, else vertically (never a cut key)."""
    if not console.is_terminal:
        _print_plain(console, grid)
        return
    dropped, every = [], list(grid.columns)
    for header in reversed(getattr(grid, "secondary", ())):
        if _fit(grid, console.width):
            break
        index = next(i for i, c in enumerate(grid.columns) if c.header == header)
        grid.columns.pop(index)
        dropped.insert(0, header)
    if not _fit(grid, console.width):
        grid.columns[:] = every  # vertical has room for every column
        console.print(vertical(grid))
        return
    if dropped:
        grid.caption = f"left out at this width: {', '.join(dropped)} (a wider terminal or --json shows them)"
        grid.caption_justify = "left"
    console.print(grid)


def _fit(grid: Table, width: int) -> bool:
    """Give each column its width: key columns (no_wrap) their longest value; the others at least their
    longest word, sharing what is left in proportion to what they would like. False: even
    that does not fit."""
    columns = grid.columns
    overhead = 2 * (len(columns) - 1)  # the layout `table` makes: two spaces between columns
    natural = [max([_cell_width(c) for c in col.cells] + [cell_len(str(col.header))]) for col in columns]
    keys = [col.no_wrap for col in columns]  # `table` marks KEY_HEADERS; a caller may mark more
    least = [
        n if key else max(_word_width(col.header), min(_longest_word(col), MAX_WORD))
        for n, col, key in zip(natural, columns, keys, strict=True)
    ]
    room = width - overhead
    if sum(natural) <= room:
        return True
    if sum(least) > room:
        return False
    spare, wants = room - sum(least), [n - m for n, m in zip(natural, least, strict=True)]
    total = sum(wants) or 1
    for col, low, want in zip(columns, least, wants, strict=True):
        col.width = low + spare * want // total
    return True


def _longest_word(column) -> int:
    return max((_word_width(c) for c in column.cells), default=0)


def _print_plain(console: Console, grid: Table) -> None:
    """Piped: the table at its natural width, a rule under the header, no trailing spaces."""
    with console.capture() as captured:
        console.print(grid)
    lines = [line.rstrip() for line in captured.get().splitlines()]
    console.file.write("\n".join(line for line in lines if line) + "\n")


def _text(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain


def _cell_width(cell: Any) -> int:
    return max((cell_len(line) for line in _text(cell).splitlines()), default=0)


def _word_width(cell: Any) -> int:
    return max((cell_len(word) for word in _text(cell).split()), default=0)


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
