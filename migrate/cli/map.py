"""`migrate map`: transform and validate staged rows; rejects with reasons; unmapped values."""

from __future__ import annotations

from pathlib import Path

import typer

from migrate.cli.context import (
    NO_MAPPINGS,
    app_context,
    audit_reachable,
    audited,
    emit_json,
    progress_for,
    reported_errors,
)
from migrate.cli.output import more, number, table
from migrate.mapping import MapResult, map_entities


def map_command(
    ctx: typer.Context,
    entities: list[str] = typer.Argument(
        None, help="Entities to map (default: every entity with a mapping)."
    ),
    phase: str | None = typer.Option(None, "--phase", help="Map the entities of this phase."),
    all_: bool = typer.Option(False, "--all", help="Map every entity with a mapping (the default)."),
    simulate: bool = typer.Option(
        False, "--simulate", help="Compute the counts and rejects without replacing the mapped rows."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the rejects to this quarantine workbook (.xlsx)."
    ),
) -> None:
    """Map and validate staged rows into the unified model: rows in, mapped, rejected by reason,
    filtered by filter, unmapped values."""
    app = app_context(ctx)
    with reported_errors(ctx), progress_for(ctx) as progress:
        if not simulate:
            audit_reachable(app)
        result = map_entities(
            app.project,
            tuple(entities or ()),
            phase=phase,
            simulate=simulate,
            quarantine=out,
            progress=progress,
        )
        if not simulate:
            counts = {e.entity: {"mapped": e.mapped, "rejected": e.rejected} for e in result.entities}
            audited(app, "map", {"entities": counts})
    if app.json:
        emit_json(app, result.to_dict() | ({"quarantine": str(out)} if out else {}))
        return
    render(app, result, out)


UNMAPPED_SHOWN = 10


def render(app, result: MapResult, out: Path | None) -> None:
    """The counts per entity (a table), then per entity its rejects by reason with an example,
    its filters and its first unmapped values."""
    if not result.entities:
        app.result(NO_MAPPINGS)
        return
    title = "map, simulated (nothing replaced)" if result.simulate else "map"
    numbers = ("rows in", "mapped", "rejected", "filtered")
    grid = table("entity", *numbers, title=title, numeric=numbers)
    for e in result.entities:
        grid.add_row(e.entity, *(number(n) for n in (e.source_rows, e.mapped, e.rejected, e.filtered)))
    app.show(grid)
    for e in result.entities:
        for reason, n in sorted(e.rejected_by_reason.items()):
            example = e.examples.get(reason)
            app.detail(
                f"{e.entity} rejected {reason}: {number(n)}" + (f" (e.g. {example})" if example else "")
            )
        for name, n in sorted(e.filtered_by_filter.items()):
            app.detail(f"{e.entity} filtered by {name}: {number(n)}")
        for u in e.unmapped[:UNMAPPED_SHOWN]:
            app.detail(f"{e.entity} unmapped {u.value_map}: {u.value!r} x{number(u.count)}")
        if len(e.unmapped) > UNMAPPED_SHOWN:
            app.detail(
                f"{more(UNMAPPED_SHOWN, len(e.unmapped))} unmapped values (`migrate values export` lists them)"
            )
        _render_sources_and_defaults(app, e)
    if out:
        app.result(f"rejects written to {out}")


def _render_sources_and_defaults(app, e) -> None:
    """Each source's share when there are several (or rows were reshaped), then the codes a
    value map gave its declared default (decisions, not unknowns)."""
    if len(e.by_source) > 1 or any(s.read != s.rows for s in e.by_source):
        for s in e.by_source:
            app.detail(
                f"{e.entity} from {s.source}: read {number(s.read)} -> rows {number(s.rows)}:"
                f" mapped {number(s.mapped)}, rejected {number(s.rejected)}, filtered {number(s.filtered)}"
            )
    for u in e.defaulted[:UNMAPPED_SHOWN]:
        app.detail(f"{e.entity} defaulted {u.value_map}: {u.value!r} x{number(u.count)}")
