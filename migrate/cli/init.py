"""`migrate init`."""

from __future__ import annotations

from pathlib import Path

import typer

from migrate.cli.context import app_context, emit_json, reported_errors
from migrate.scaffold import scaffold


def init(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="Folder for the new project (created if missing)."),
    name: str = typer.Option(None, "--name", help="Project name (default: the folder's name)."),
) -> None:
    """Scaffold a cutover project: project.yaml, phases, mappings, reconcile and rollback folders."""
    app = app_context(ctx)
    with reported_errors(ctx):
        written = scaffold(directory, name=name)
    if app.json:
        emit_json(app, {"ok": True, "project": str(directory), "files": [str(p) for p in written]})
    else:
        app.say(
            f"Scaffolded {directory} ({len(written)} files). Next: declare sources in project.yaml, "
            "`migrate sources check`, then `migrate new mapping ENTITY --source S` per entity "
            "(skeletons of every entity are in mappings/skeletons/)."
        )
