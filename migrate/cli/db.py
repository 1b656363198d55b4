"""`migrate db`: the target's schema, by alembic."""

from __future__ import annotations

import typer

from migrate import db as schema
from migrate.cli.context import app_context, audited, confirmed, emit_json, reported_errors
from migrate.cli.output import number
from migrate.errors import ConfigError
from migrate.urls import mask_url

app = typer.Typer(help="Create, inspect and remove the unified model's tables in the target (alembic).")


def _run(
    ctx: typer.Context, action: str, revision: str | None = None, *, yes: bool = False, force: bool = False
) -> None:
    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        url = app_ctx.project.target_url
        engine = schema.make_engine(url)
        try:
            before = schema.current(engine)
            if action == "upgrade":
                after = schema.upgrade(engine, revision or "head")
            elif action == "downgrade":
                _downgrade_allowed(app_ctx, engine, before, revision or "-1", yes=yes, force=force)
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
        app_ctx.result(f"{mask_url(url)}: revision {after or 'none (empty)'} (head {result['head']})")
    else:
        app_ctx.result(f"{mask_url(url)}: {action} {before or 'none'} -> {after or 'none (base)'}")


@app.command()
def upgrade(ctx: typer.Context, revision: str = typer.Argument("head", help="Revision to reach.")) -> None:
    """Create or upgrade the unified model's tables in the target."""
    _run(ctx, "upgrade", revision)


def _downgrade_allowed(app_ctx, engine, before, revision: str, *, yes: bool, force: bool) -> None:
    """A downgrade drops tables: refused over loaded data or an audit log without --force,
    and confirmed (a terminal, or --yes) in every case."""
    held = schema.held_rows(engine)
    shown = ", ".join(f"{name} {number(rows)}" for name, rows in held.items())
    if held and not force:
        raise ConfigError(
            f"the target {mask_url(engine.url)} holds loaded data or an audit log ({shown}); "
            "a downgrade would drop it.",
            hint="Roll back first (`migrate rollback run --to start`), or add --force if losing it is meant.",
        )
    what = f"db downgrade on {mask_url(engine.url)}: schema revision {before or 'none'} -> {revision}"
    if held:
        what += f"\ndrops, with --force: {shown}"
    confirmed(app_ctx, yes, what, "Downgrade the target's schema?")


@app.command()
def downgrade(
    ctx: typer.Context,
    revision: str = typer.Argument("-1", help="Revision to go back to; 'base' removes all."),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask (needed without a terminal and with --json)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Downgrade even though the target holds loaded data or an audit log."
    ),
) -> None:
    """Take the target's schema back to an earlier revision (its tables and their rows are
    dropped): shown and confirmed first; refused over loaded data unless --force."""
    _run(ctx, "downgrade", revision, yes=yes, force=force)


@app.command()
def current(ctx: typer.Context) -> None:
    """Show the target's schema revision."""
    _run(ctx, "current")
