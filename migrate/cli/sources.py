"""`migrate sources`: what project.yaml declares, and whether each source is there and unchanged."""

from __future__ import annotations

import typer

from migrate.cli.context import NO_SOURCES, app_context, emit_json, reported_errors
from migrate.cli.output import number, table
from migrate.errors import EXIT_FAILED
from migrate.extract import check_sources, used_columns_from_mappings
from migrate.urls import mask_url

app = typer.Typer(help="List the declared legacy sources and check them before extracting.")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """The sources declared in project.yaml."""
    app_ = app_context(ctx)
    with reported_errors(ctx):
        sources = app_.project.spec.sources
    rows = [{"source": n, "kind": s.kind, "where": _where(s)} for n, s in sources.items()]
    if app_.json:
        emit_json(app_, {"ok": True, "sources": rows})
        return
    if not rows:
        app_.result(NO_SOURCES)
        return
    grid = table("source", "kind", "where")
    for row in rows:
        grid.add_row(row["source"], row["kind"], row["where"])
    app_.show(grid)


def _where(spec) -> str:
    """A file's path and its sheets; a database source's URL (password masked) and its table,
    or 'query' (two sources of one workbook, or one database, are told apart)."""
    if not spec.path:
        return f"{mask_url(spec.url)}, {f'table {spec.table}' if spec.table else 'query'}"
    if spec.sheet is not None:
        return f"{spec.path}, sheet {spec.sheet}"
    if spec.sheets is not None:
        return f"{spec.path}, sheets {', '.join(spec.sheets)}"
    if spec.sheet_pattern is not None:
        return f"{spec.path}, sheets matching {spec.sheet_pattern}"
    return spec.path


@app.command()
def check(
    ctx: typer.Context,
    sources: list[str] = typer.Argument(None, help="Source names (default: all)."),
) -> None:
    """Reachable? Changed since the last extract? Columns the mappings use found? Exit 1 if not."""
    app_ = app_context(ctx)
    with reported_errors(ctx):
        used = used_columns_from_mappings(app_.project)
        report = check_sources(app_.project, used, names=tuple(sources or ()))
    if app_.json:
        emit_json(app_, report.to_dict())
    elif not report.sources:
        app_.result(NO_SOURCES)
    else:
        grid = table("source", "kind", "state", "columns", "problem", numeric=("columns",))
        for s in report.sources:
            problem = s.problem or (
                f"mappings use missing columns: {', '.join(s.missing_columns)}" if s.missing_columns else ""
            )
            grid.add_row(s.source, s.kind, s.state, number(len(s.columns)), problem)
        app_.show(grid)
        for s in report.sources:
            for warning in s.warnings:
                app_.say(f"warning: {warning}")
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)
