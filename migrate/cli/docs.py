"""`migrate docs`: the reference pages in the terminal, generated from the running version."""

from __future__ import annotations

import re
import sys

import typer
from rich.console import Console
from rich.markdown import Markdown

from migrate.cli.context import app_context, emit_json, reported_errors
from migrate.cli.output import print_table, table


def docs(
    ctx: typer.Context,
    page: str = typer.Argument(None, help="mapping, model, project or cli; none lists the pages."),
    section: str = typer.Argument(
        None, help="Only the sections whose heading names this: an entity, a key, a transform."
    ),
    toc: bool = typer.Option(False, "--toc", help="List the page's headings instead of the page."),
) -> None:
    """Read the reference: the mapping language, the model, the project files, the commands.

    The pages are made from this version's code, so they match the toolkit you run, with no
    network and no repository at hand. `migrate docs model supplier` shows one entity's
    columns and allowed values; `migrate docs mapping value_map` one transform. On a terminal
    the Markdown is rendered; piped or redirected it is printed as it is, so
    `migrate docs mapping > mapping.md` keeps a copy."""
    from migrate.docs import TOPICS, reference

    app = app_context(ctx)
    if page is None:
        _list_pages(app, TOPICS)
        return
    with reported_errors(ctx):
        found = reference(page, section)
    if app.json:
        emit_json(app, {**found.to_dict(), "headings": list(found.headings)} if toc else found.to_dict())
    elif toc:
        for heading in found.headings:
            app.console.print(heading, markup=False, highlight=False)
    elif app.terminal:
        _render(app.console, found.markdown)
    else:  # the Markdown itself, byte for byte, whatever the pipe's width
        sys.stdout.write(found.markdown)


def _list_pages(app, topics: dict[str, str]) -> None:
    if app.json:
        emit_json(app, {"pages": [{"page": name, "holds": what} for name, what in topics.items()]})
        return
    grid = table("page", "holds")
    grid.columns[0].no_wrap = True
    for name, what in topics.items():
        grid.add_row(name, what)
    app.show(grid)
    app.say("Read one with `migrate docs PAGE`, one part of it with `migrate docs PAGE SECTION`.")


def _render(console: Console, markdown: str) -> None:
    """Markdown for the prose; each table through the toolkit's own table printer, which keeps
    a column name whole on an 80-column terminal (rich's Markdown tables cut it to fit)."""
    lines, prose, fenced, i = markdown.splitlines(), [], False, 0
    while i < len(lines):
        fenced = fenced != lines[i].startswith("```")
        if fenced or not lines[i].startswith("|"):
            prose.append(lines[i])
            i += 1
            continue
        end = next((j for j in range(i, len(lines)) if not lines[j].startswith("|")), len(lines))
        console.print(Markdown("\n".join(prose)))
        console.print()
        print_table(console, _grid(lines[i:end]))
        console.print()
        prose, i = [], end
    console.print(Markdown("\n".join(prose)))


_CELL_BORDER = re.compile(r"(?<!\\)\|")


def _grid(rows: list[str]):
    """A Markdown table as a result table: its first column kept whole, inline marks dropped."""
    cells = [
        [
            c.strip().replace("\\|", "|").replace("`", "").replace("**", "")
            for c in _CELL_BORDER.split(r.strip())[1:-1]
        ]
        for r in rows
    ]
    grid = table(*cells[0])
    grid.columns[0].no_wrap = True
    for row in cells[2:]:  # the second row is the |---| line
        grid.add_row(*row)
    return grid
