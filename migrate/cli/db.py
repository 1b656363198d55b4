"""`migrate db`: the target's schema, by alembic."""

from __future__ import annotations

import typer

from migrate import db as schema
from migrate.cli.context import app_context, audited, emit_json, reported_errors
from migrate.urls import mask_url

app = typer.Typer(help="Create, inspect and remove the unified model's tables in the target (alembic).")


def _run(ctx: typer.Context, action: str, revision: str | None = None) -> None:
    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        url = app_ctx.project.target_url
        engine = schema.make_engine(url)
        try:
            before = schema.current(engine)
            if action == "upgrade":
                after = schema.upgrade(engine, revision or "head")
            elif action == "downgrade":
                after = schema.downgrade(engine, revision or "-1")
            else:
                after = before
        finally:
            engine.dispose()
        if action != "current" and before != after:
            audited(app_ctx, f"db {action}", {"from": before, "to": after})
    result = {
        "ok": True,
        "target": mask_url(url),
        "action": action,
        "before": before,
        "current": after,
        "head": schema.head(),
    }
    if app_ctx.json:
        emit_json(app_ctx, result)
    elif action == "current":
        app_ctx.say(f"{mask_url(url)}: revision {after or 'none (empty)'} (head {result['head']})")
    else:
        app_ctx.say(f"{mask_url(url)}: {action} {before or 'none'} -> {after or 'none (base)'}")


@app.command()
def upgrade(ctx: typer.Context, revision: str = typer.Argument("head", help="Revision to reach.")) -> None:
    """Create or upgrade the unified model's tables in the target."""
    _run(ctx, "upgrade", revision)


@app.command()
def downgrade(
    ctx: typer.Context,
    revision: str = typer.Argument("-1", help="Revision to go back to; 'base' removes all."),
) -> None:
    """Take the target's schema back to an earlier revision."""
    _run(ctx, "downgrade", revision)


@app.command()
def current(ctx: typer.Context) -> None:
    """Show the target's schema revision."""
    _run(ctx, "current")
