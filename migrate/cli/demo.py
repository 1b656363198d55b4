"""`migrate demo`: the reference project end to end, on SQLite, in a folder of its own."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from migrate import demo as demo_stage
from migrate.cli import extract as extract_cli
from migrate.cli import load as load_cli
from migrate.cli import map as map_cli
from migrate.cli import reconcile as reconcile_cli
from migrate.cli.context import app_context, emit_json, progress_for, reported_errors
from migrate.cli.output import number, table
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
        Path("migrate-demo"),
        "--dir",
        help="Folder for the demo project: new, empty, or an earlier demo (replaced on each run).",
    ),
    seed: int = typer.Option(7, "--seed", help="Seed of the legacy factory: the same seed, the same files."),
) -> None:
    """Generate the legacy factory and run every phase end to end on SQLite (extract, map,
    load, gates, cutover point), then reconcile the whole target."""
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
            f"Legacy estate: {number(legacy['sources'])} sources, {number(legacy['rows'])} rows, "
            f"{number(legacy['defects'])} injected defects (fixtures/manifest.json).\n"
        )
        extract_cli.render(app, result.extracted)
        map_cli.render(app, result.mapped, None)
        for run in result.runs:
            app.show(load_cli.render(run.loaded))
        app.show(_phases(result))
        reconcile_cli.render(result.reconciled, app)
        last = result.approvals[-1].phase
        app.say(
            f"\nThe demo project is in {result.directory}. Try:\n"
            f"  migrate --project {directory} reconcile --format xlsx --out reconcile.xlsx\n"
            f"  migrate --project {directory} trace <LOT_NO> --forward\n"
            f"  migrate --project {directory} phase status\n"
            f"  migrate --project {directory} rollback plan --to {result.approvals[0].phase}\n"
            f"  migrate --project {directory} rollback rehearse --to start\n"
            f"  migrate --project {directory} audit log\n"
            f"Every phase up to {last} is approved and has a cutover point to roll back to.\n"
            f"The lead's board: {result.board}"
        )
        if result.evidence:
            e = result.evidence
            app.say(
                f"Phase {e.phase} was signed by {' and '.join(e.signers)} (keys in {directory}/keys) before "
                f"its approval; its evidence pack, {e.pack}, verifies offline: "
                f"{'intact' if e.check.ok else 'NOT intact'} (migrate evidence verify {e.pack})."
            )
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


def _phases(result: demo_stage.DemoResult) -> Table:
    numbers = ("rows loaded", "ledger seq")
    grid = table(
        "phase",
        "rows loaded",
        "gates",
        "cutover point",
        "ledger seq",
        title="phases approved, each with its cutover point",
        numeric=numbers,
    )
    for run, approval in zip(result.runs, result.approvals, strict=True):
        loaded = sum(e.inserted + e.updated for e in run.loaded.entities)
        gates = ", ".join(g.gate for g in approval.gates if g.met)
        grid.add_row(run.phase, number(loaded), gates, approval.point.name, number(approval.point.ledger_seq))
    return grid
