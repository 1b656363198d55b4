"""`migrate values`: unmapped legacy codes out to a workbook for the consultant, and back."""

from __future__ import annotations

from pathlib import Path

import typer

from migrate.cli.context import app_context, emit_json, progress_for, reported_errors
from migrate.cli.output import number
from migrate.mapping.engine import export_values, import_values

app = typer.Typer(help="Export unmapped legacy codes to an xlsx for the consultant, and import it back.")


@app.command("export")
def export(
    ctx: typer.Context,
    entities: list[str] = typer.Argument(None, help="Entities to look at (default: every mapped entity)."),
    phase: str | None = typer.Option(
        None,
        "--phase",
        help="Look at the entities of this phase (its sources extracted, not yet the later ones).",
    ),
    out: Path = typer.Option(Path("unmapped-values.xlsx"), "--out", help="The workbook to write."),
) -> None:
    """List every value no value map knows, with its count and sample rows, in a workbook to fill."""
    app_ = app_context(ctx)
    with reported_errors(ctx), progress_for(ctx) as progress:
        result = export_values(app_.project, out, tuple(entities or ()), phase=phase, progress=progress)
    if app_.json:
        emit_json(
            app_,
            {
                "ok": True,
                "path": str(result.path),
                "values": result.values,
                "by_value_map": result.by_value_map,
            },
        )
        return
    app_.result(
        f"{number(result.values)} unmapped values written to {result.path}; fill column unified_value "
        f"(its drop-down lists the codes each value map accepts), then `migrate values import {result.path}`."
    )


@app.command("import")
def import_(
    ctx: typer.Context,
    workbook: Path = typer.Argument(..., help="A filled export workbook."),
) -> None:
    """Merge the filled unified values into the value maps: each code is checked against the value
    map's `allowed:` and the model's allowed values of every column it fills (exit 2 naming the
    row, code and allowed list; nothing written); YAML files keep their comments and order."""
    app_ = app_context(ctx)
    with reported_errors(ctx):
        result = import_values(app_.project, workbook)
    if app_.json:
        emit_json(app_, {"ok": True, "path": str(result.path), "added": result.added})
        return
    total = sum(result.added.values())
    if not total:
        app_.result(f"nothing to add from {workbook}: every filled code is already in its value map.")
        return
    app_.result(
        f"{number(total)} value-map entries added from {workbook}: "
        + ", ".join(f"{k} {number(v)}" for k, v in result.added.items())
    )
