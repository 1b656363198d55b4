"""`migrate audit`: read and verify the hash-chained audit log in the target."""

from __future__ import annotations

import typer

from migrate import audit
from migrate.cli.context import app_context, emit_json, reported_errors
from migrate.cli.output import number, table
from migrate.db import make_engine, require_schema

app = typer.Typer(help="The tamper-evident log of every state-changing command.")


def _engine(ctx: typer.Context):
    engine = make_engine(app_context(ctx).project.target_url)
    require_schema(engine)
    return engine


@app.command("log")
def log(ctx: typer.Context, last: int = typer.Option(50, "--last", help="How many recent entries.")) -> None:
    """Show the most recent audit entries: who ran what, when."""
    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        entries = audit.entries(_engine(ctx), last=last)
    if app_ctx.json:
        emit_json(app_ctx, {"ok": True, "entries": [e.to_dict() for e in entries]})
        return
    grid = table("seq", "at", "operator", "command", "what", "hash", numeric=("seq",))
    for e in entries:
        what = audit.describe(e.command, e.details)
        grid.add_row(number(e.seq), app_ctx.when(e.at), e.operator, e.command, what, e.hash[:12])
    app_ctx.show(grid)


@app.command("verify")
def verify(
    ctx: typer.Context,
    expect_head: str = typer.Option(None, "--expect-head", help="Head hash recorded at a sign-off."),
) -> None:
    """Check the whole chain; exit 1 naming the first entry that was edited, deleted or moved."""
    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        result = audit.verify(_engine(ctx), expect_head=expect_head)
    if app_ctx.json:
        emit_json(app_ctx, result.to_dict())
    elif result.ok:
        app_ctx.result(f"audit log intact: {result.entries} entries, head {result.head_hash}")
    else:
        where = f" at entry {result.first_bad_seq}" if result.first_bad_seq else ""
        app_ctx.err_console.print(f"[bold red]audit log NOT intact{where}:[/] {result.problem}")
    if not result.ok:
        raise typer.Exit(1)
