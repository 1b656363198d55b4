"""`migrate extract`: declared sources into the work store's staging tables."""

from __future__ import annotations

import typer

from migrate import extract as stage
from migrate.cli.context import (
    NO_SOURCES,
    AppContext,
    app_context,
    audit_reachable,
    audited,
    emit_json,
    progress_for,
    reported_errors,
)
from migrate.cli.output import number, table


def extract(
    ctx: typer.Context,
    sources: list[str] = typer.Argument(None, help="Source names from project.yaml (default: all)."),
    phase: str | None = typer.Option(None, "--phase", help="The sources the phase's mappings read."),
    all_: bool = typer.Option(False, "--all", help="Every declared source (the default)."),
    force: bool = typer.Option(False, "--force", help="Extract again even if the source is unchanged."),
) -> None:
    """Read legacy sources into staging as text, with lineage; unchanged sources are skipped."""
    app = app_context(ctx)
    with reported_errors(ctx), progress_for(ctx) as progress:
        audit_reachable(app)
        result = stage.extract(app.project, tuple(sources or ()), phase=phase, force=force, progress=progress)
        changed = {s.source: s.fingerprint for s in result.sources if s.status != "unchanged"}
        if changed:
            audited(app, "extract", {"sources": changed, "rows": result.rows})
    if app.json:
        emit_json(app, {"ok": True, **result.to_dict()})
        return
    render(app, result)


def render(app: AppContext, result: stage.ExtractResult) -> None:
    """The summary table: source, rows staged, sheets, skipped rows by reason, fingerprint status."""
    if not result.sources:
        app.result(NO_SOURCES)
        return
    grid = table(
        "source",
        "status",
        "rows",
        "sheets",
        "skipped",
        "fingerprint",
        title="extract",
        numeric=("rows", "sheets"),
    )
    for s in result.sources:
        skipped = ", ".join(f"{k} {number(v)}" for k, v in s.skipped.items()) or "-"
        status = "unchanged, nothing done" if s.status == "unchanged" else s.status
        grid.add_row(s.source, status, number(s.rows), number(len(s.sheets)), skipped, _fingerprint_status(s))
    app.show(grid)
    for s in result.sources:
        for warning in s.warnings:
            app.say(f"warning: {warning}")


def _fingerprint_status(source: stage.SourceResult) -> str:
    if source.status == "unchanged":
        return "same as last extract"
    if source.previous_fingerprint is None:
        return "new"
    return "same (forced)" if source.previous_fingerprint == source.fingerprint else "changed"
