"""`migrate rollback`: plan, rehearse, run and check the way back to a cutover point."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from rich.table import Table

from migrate import rollback as engine
from migrate.cli.context import (
    AppContext,
    app_context,
    confirmed,
    emit_json,
    progress_for,
    reported_errors,
)
from migrate.cli.output import number, table
from migrate.db import make_engine, require_schema
from migrate.rollback.plan import RollbackPlan, plan
from migrate.urls import redact

app = typer.Typer(help="Cutover points and exact rollback: plan, rehearse, run, readiness.")

TO = typer.Option(..., "--to", help="The cutover point to return to (`migrate rollback points` lists them).")


def _command() -> str:
    return redact(" ".join(["migrate", *sys.argv[1:]]))[:500]


def _target(app_ctx: AppContext):
    url = app_ctx.project.target_url
    schema = make_engine(url)
    try:
        require_schema(schema)
    finally:
        schema.dispose()
    return url


@app.command("plan")
def plan_command(ctx: typer.Context, to: str = TO) -> None:
    """The automatic steps (rows to delete, restore, re-insert per entity, in order), the manual
    steps of rollback/POINT.yaml with owners, and a total time estimate. Changes nothing."""
    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        _target(app_ctx)
        result = plan(app_ctx.project, to)
    if app_ctx.json:
        emit_json(app_ctx, result.to_dict())
    else:
        app_ctx.show(render_plan(result))
        app_ctx.result(f"estimated total: {number(round(result.total_minutes))} min")


def render_plan(result: RollbackPlan) -> Table:
    grid = table(
        "#",
        "step",
        "owner",
        "rows",
        "minutes",
        title=f"rollback to {result.point} on {result.target}",
        numeric=("#", "rows", "minutes"),
    )
    n = 0
    for s in result.before:
        n += 1
        grid.add_row(str(n), s.step, s.owner, "", number(s.minutes))
    for a in result.automatic:
        n += 1
        what = ", ".join(
            f"{k} {number(getattr(a, k))}" for k in ("deleted", "restored", "reinserted") if getattr(a, k)
        )
        grid.add_row(str(n), f"undo {a.entity}: {what}", "migrate rollback run", number(a.rows), "")
    for s in result.after:
        n += 1
        grid.add_row(str(n), s.step, s.owner, "", number(s.minutes))
    if result.plan_file is None:
        grid.caption = f"no rollback/{result.point}.yaml: no manual steps declared"
    return grid


@app.command("rehearse")
def rehearse(ctx: typer.Context, to: str = TO) -> None:
    """Run the real replay inside a transaction that is then rolled back: would every table's
    hash match the point's, and how long did it take? Exit 1 if it would not match."""
    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        result = engine.rehearse(_target(app_ctx), to, operator=app_ctx.operator, command=_command())
    if app_ctx.json:
        emit_json(app_ctx, result.to_dict())
    elif result.would_match:
        app_ctx.result(
            f"rehearsal: undoing {result.entries:,} ledger entries returns every table to {result.point} "
            f"exactly ({result.seconds:.1f} s); the target is unchanged."
        )
    else:
        why = result.error or "tables that would differ: " + ", ".join(result.differs)
        app_ctx.err_console.print(f"[bold red]rehearsal: not exact:[/] {redact(why)}")
    if not result.would_match:
        raise typer.Exit(1)


@app.command("run")
def run(
    ctx: typer.Context,
    to: str = TO,
    chunk_size: int = typer.Option(
        1_000, "--chunk-size", min=1, help="Ledger entries undone per transaction."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask (needed without a terminal and with --json)."
    ),
) -> None:
    """Return the target to a cutover point: the ledger replayed backwards in checkpointed chunks
    (a killed rollback resumes when run again). Exit 0 when every table's hash equals the
    point's, 1 naming the tables that differ."""
    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        url = _target(app_ctx)
        confirmed(
            app_ctx, yes, lambda: render_plan(plan(app_ctx.project, to)), f"Roll the target back to {to}?"
        )
        with progress_for(ctx) as progress:
            result = engine.rollback(
                url,
                to,
                operator=app_ctx.operator,
                command=_command(),
                chunk_size=chunk_size,
                progress=progress,
            )
    if app_ctx.json:
        emit_json(app_ctx, result.to_dict())
    else:
        app_ctx.show(render_rows(result.rows, f"rollback run {result.run_id} to {result.point}"))
        if result.exact:
            app_ctx.result(
                f"the target is back at {result.point}: every table's content hash matches the point."
            )
        else:
            app_ctx.err_console.print(
                f"[bold red]not exact:[/] these tables differ from {result.point}: {', '.join(result.differs)} "
                "(rows the toolkit did not write were left as they are)."
            )
        for kept in result.kept:
            app_ctx.err_console.print(f"  - {redact(kept.describe())}", markup=False)
    if not result.exact:
        raise typer.Exit(1)


def render_rows(rows: dict[str, dict[str, int]], title: str) -> Table:
    grid = table(
        "entity",
        "deleted",
        "restored",
        "re-inserted",
        title=title,
        numeric=("deleted", "restored", "re-inserted"),
    )
    for name, counts in rows.items():
        grid.add_row(name, *(number(counts[k]) for k in ("deleted", "restored", "reinserted")))
    return grid


@app.command("readiness")
def readiness(
    ctx: typer.Context,
    to: str | None = typer.Option(
        None, "--to", help="The point to check (default: the one behind the latest)."
    ),
) -> None:
    """Ready (exit 0) or not (exit 1): rows the toolkit did not write that refer to rows the
    rollback would delete, and tables changed behind the toolkit's back, are named."""
    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        report = engine.readiness(_target(app_ctx), to, operator=app_ctx.operator)
    if app_ctx.json:
        emit_json(app_ctx, report.to_dict())
    elif report.ready:
        app_ctx.result(
            f"ready: a rollback to {report.point} would return every table to its recorded content."
        )
    else:
        lines = "\n".join(f"  - {redact(p)}" for p in report.problems)  # natural keys: legacy text
        app_ctx.err_console.print(f"[bold red]not ready[/] for a rollback to {escape(report.point)}:")
        app_ctx.err_console.print(lines, markup=False)
    if not report.ready:
        raise typer.Exit(1)


@app.command("points")
def points(ctx: typer.Context) -> None:
    """List the cutover points: name, phase, when, who, ledger position, live or undone."""
    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        db = make_engine(_target(app_ctx))
        try:
            found = engine.list_points(db)
        finally:
            db.dispose()
    if app_ctx.json:
        emit_json(app_ctx, {"ok": True, "points": [p.to_dict() for p in found]})
        return
    grid = table("point", "phase", "recorded", "operator", "ledger seq", "state", numeric=("ledger seq",))
    for p in found:
        state = "live" if p.superseded_by is None else f"undone by rollback {p.superseded_by}"
        grid.add_row(
            p.name, p.phase or "", app_ctx.when(p.created_at), p.operator, number(p.ledger_seq), state
        )
    app_ctx.show(grid)


@app.command("mark")
def mark(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The point's name (letters, digits, _ - .)."),
    phase: str | None = typer.Option(None, "--phase", help="The phase this point ends."),
) -> None:
    """Record the target's present state as a cutover point (`phase approve` does this for a phase)."""
    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        point = engine.record_point(
            _target(app_ctx), name, phase=phase, operator=app_ctx.operator, command=_command()
        )
    if app_ctx.json:
        emit_json(app_ctx, {"ok": True, "point": point.to_dict()})
    else:
        app_ctx.result(f"cutover point {point.name} recorded at ledger seq {number(point.ledger_seq)}.")
