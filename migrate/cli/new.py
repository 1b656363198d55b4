"""`migrate new`: project files written from the unified model, to fill in."""

from __future__ import annotations

import typer

from migrate.cli.context import app_context, emit_json, reported_errors
from migrate.model import ENTITIES

app = typer.Typer(help="Write a commented project file from the model, to fill in.")


@app.command("mapping")
def mapping(
    ctx: typer.Context,
    entity: str = typer.Argument(
        ..., help=f"The target entity: {', '.join(ENTITIES)} (`migrate docs model ENTITY`)."
    ),
    source: str = typer.Option(..., "--source", "-s", help="A source declared in project.yaml."),
    force: bool = typer.Option(False, "--force", help="Replace an existing mappings/ENTITY.yaml."),
) -> None:
    """Write mappings/ENTITY.yaml for a declared source: every target column with its type,
    whether it is required and its allowed values; `from:` filled in where a source column's
    name matches a target column; the source's columns listed in a comment."""
    from migrate.skeleton import new_mapping

    app_ = app_context(ctx)
    with reported_errors(ctx):
        result = new_mapping(app_.project, entity, source, force=force)
    if app_.json:
        emit_json(app_, result.to_dict())
        return
    app_.say(
        f"Wrote mappings/{result.path.name}: {len(result.matched)} of {result.columns} columns "
        f"matched from {source}. Fill in the rest, then `migrate map {result.path.stem} --simulate`."
    )
