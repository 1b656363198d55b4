"""`migrate report`: the project lead's board, one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import typer

from migrate.cli.context import app_context, emit_json, reported_errors, require_target


def report(
    ctx: typer.Context,
    out: Path = typer.Option(Path("status.html"), "--out", help="Where to write the page."),
    no_reconcile: bool = typer.Option(
        False, "--no-reconcile", help="Skip reconciling (faster; reconcile shows as not measured)."
    ),
) -> None:
    """Write the lead's board: one self-contained HTML page of the cutover's state.

    Phases and their gates (measured against thresholds), cutover points and
    signatures, rejects by reason with their trend across rehearsals, reconcile per entity,
    rollback readiness, durations and the go-live ETA, the audit chain head. One HTML file with
    inline SVG charts, no network: open it from disk or a file share. The facts are those of
    `migrate phase status --json`."""
    from migrate.report import write_report

    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        require_target(app_ctx)
        result = write_report(app_ctx.project, out, reconcile=not no_reconcile)
    if app_ctx.json:
        emit_json(app_ctx, result.to_dict())
        return
    app_ctx.say(f"board written to {result.path}")
