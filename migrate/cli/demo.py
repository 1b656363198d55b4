"""`migrate demo`: the reference project end to end, on SQLite, in a folder of its own."""

from __future__ import annotations

from pathlib import Path

import typer

from migrate import demo as demo_stage
from migrate.cli import extract as extract_cli
from migrate.cli import load as load_cli
from migrate.cli import map as map_cli
from migrate.cli import reconcile as reconcile_cli
from migrate.cli.context import app_context, emit_json, progress_for, reported_errors
from migrate.errors import EXIT_FAILED


def demo(
    ctx: typer.Context,
    rows: int = typer.Option(
        None,
        "--rows",
        min=1,
        help="Process-parameter rows to generate (default: the reference scale, 5,000).",
    ),
    directory: Path = typer.Option(
        Path("migrate-demo"), "--dir", help="Folder for the demo project (replaced on each run)."
    ),
    seed: int = typer.Option(7, "--seed", help="Seed of the legacy factory: the same seed, the same files."),
) -> None:
    """Generate the legacy factory and run every stage end to end on SQLite:
    extract, map, load, reconcile."""
    app = app_context(ctx)
    with reported_errors(ctx), progress_for(ctx) as progress:
        app.say(f"Generating the legacy factory and the reference project in {directory} ...")
        result = demo_stage.run_demo(
            directory, rows=rows, seed=seed, operator=app.operator, progress=progress
        )
    if app.json:
        emit_json(app, result.to_dict())
    else:
        legacy = result.to_dict()["legacy"]
        app.say(
            f"Legacy estate: {legacy['sources']} sources, {legacy['rows']:,} rows, "
            f"{legacy['defects']} injected defects (fixtures/manifest.json).\n"
        )
        extract_cli.render(app, result.extracted)
        map_cli.render(app, result.mapped, None)
        if not app.quiet:
            app.console.print(load_cli.render(result.loaded))
        reconcile_cli.render(result.reconciled, app)
        app.say(
            f"\nThe demo project is in {result.directory}. Try:\n"
            f"  migrate --project {directory} reconcile --format xlsx --out reconcile.xlsx\n"
            f"  migrate --project {directory} trace <LOT_NO> --forward\n"
            f"  migrate --project {directory} audit log"
        )
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)
