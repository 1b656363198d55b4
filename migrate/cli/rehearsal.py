"""`migrate rehearsal`: run the plan against a scratch target and record it; list; compare two."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from migrate.cli.context import app_context, emit_json, progress_for, reported_errors
from migrate.cli.output import table as result_table

app = typer.Typer(help="Rehearsals of the cutover on a scratch target: run NAME, list, compare [A B].")


@app.command("run")
def run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A name for this rehearsal, e.g. mock-1 (letters, digits, _ - .)."),
    phase: list[str] = typer.Option(
        [], "--phase", help="Run only this phase (repeatable); the phases it depends on run too."
    ),
    target: str = typer.Option(
        None,
        "--target",
        help="Scratch target URL (default: a fresh SQLite file in .migrate/rehearsals/NAME/). "
        "Never the project's own target.",
    ),
    reset: bool = typer.Option(False, "--reset", help="Empty a scratch PostgreSQL target that holds tables."),
    keep: bool = typer.Option(
        False, "--keep", help="Keep the scratch SQLite target and work store afterwards."
    ),
) -> None:
    """Run the plan (or the named phases) against a scratch target: extract, map, load,
    reconcile and gates per phase, each step and entity timed; record it in
    .migrate/rehearsals/NAME.json. The project's own target is never written to."""
    from migrate.rehearsal.record import list_rehearsals
    from migrate.rehearsal.run import run_rehearsal

    app_ctx = app_context(ctx)
    with reported_errors(ctx), progress_for(ctx) as progress:
        earlier = next((r for r in list_rehearsals(app_ctx.project) if r.name == name), None)
        rehearsal, path = run_rehearsal(
            app_ctx.project,
            name,
            phases=phase,
            target=target,
            reset=reset,
            keep=keep,
            operator=app_ctx.operator,
            progress=progress,
        )
    if app_ctx.json:
        emit_json(app_ctx, {"ok": True, "path": str(path), "rehearsal": rehearsal.to_dict()})
        return
    app_ctx.show(_steps(rehearsal))
    rejected = sum(e.rejected for e in rehearsal.entities)
    open_variances = sum(not v.ok for v in rehearsal.variances)
    app_ctx.say(
        f"rehearsal {name}: {len(rehearsal.phases)} phases in {rehearsal.seconds:,.1f} s, "
        f"{rejected:,} rows rejected, {open_variances} entities with reconcile variances, "
        f"gates met for {len(rehearsal.approved)} of {len(rehearsal.phases)} phases; recorded in {path}."
    )
    if earlier is not None:  # its record is gone: compare and the board's trend no longer see it
        app_ctx.result(
            f"it replaced the earlier rehearsal {name} of {app_ctx.when(datetime.fromisoformat(earlier.started_at))}; "
            "give each rehearsal its own name (mock-2, mock-3) to keep them all."
        )


def _steps(rehearsal) -> Table:
    table = result_table(
        "phase", "step", "seconds", "slowest", title=f"rehearsal {rehearsal.name}", numeric=["seconds"]
    )
    for s in rehearsal.steps:
        slowest = max(s.items.items(), key=lambda kv: kv[1], default=None)
        shown = f"{slowest[0]} {slowest[1]:.2f} s" if slowest else ""
        table.add_row(s.phase, s.step, f"{s.seconds:.2f}", shown)
    return table


@app.command("list")
def list_command(ctx: typer.Context) -> None:
    """The recorded rehearsals, oldest first: when, how long, rejects, variances, gates met."""
    from migrate.rehearsal.record import list_rehearsals

    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        found = list_rehearsals(app_ctx.project)
    if app_ctx.json:
        emit_json(app_ctx, {"ok": True, "rehearsals": [r.summary() for r in found]})
        return
    numeric = ["seconds", "phases", "rejected", "variances"]
    table = result_table(
        "rehearsal",
        "started (UTC)",
        "seconds",
        "phases",
        "rejected",
        "variances",
        "gates met",
        numeric=numeric,
    )
    table.columns[0].no_wrap = True
    for r in found:
        s = r.summary()
        table.add_row(
            r.name, r.started_at[:16].replace("T", " "), f"{r.seconds:,.1f}", str(len(r.phases)),
            f"{s['rejected']:,}", str(s["variances"]), f"{len(r.approved)}/{len(r.phases)}",
        )  # fmt: skip
    if found:
        app_ctx.show(table)
    else:
        app_ctx.result("No rehearsal recorded yet: `migrate rehearsal run NAME`.")


@app.command("compare")
def compare(
    ctx: typer.Context,
    a: str = typer.Argument(None, help="The earlier rehearsal (default: the second to last)."),
    b: str = typer.Argument(None, help="The later rehearsal (default: the last)."),
    out: Path = typer.Option(None, "--out", help="Also write the comparison as an xlsx workbook."),
) -> None:
    """What changed between two rehearsals: rejects per entity and reason (up, down, new,
    gone), reconcile variances opened and closed, each step's duration, and the sources,
    mapping files and value maps that changed (by fingerprint)."""
    from migrate.rehearsal.compare import compare_named, write_xlsx

    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        result = compare_named(app_ctx.project, a, b)
        if out is not None:
            write_xlsx(result, out)
    if app_ctx.json:
        emit_json(app_ctx, {"ok": True, **result.to_dict()} | ({"path": str(out)} if out else {}))
        return
    for part in _comparison(result):
        if isinstance(part, str):
            app_ctx.result(part)
        else:
            app_ctx.show(part)
    if out is not None:
        app_ctx.say(f"comparison written to {out}.")


def _comparison(result) -> list:
    """Tables of what changed; unchanged rows are counted, not listed, and a table with nothing
    to list is one line (an empty table squeezed its title and caption into a narrow column)."""
    same = len(result.rejects) - len(result.rejects_changed)
    rejects = result_table(
        "entity",
        "reason",
        result.a,
        result.b,
        "change",
        title=f"rejects: {result.a} -> {result.b}",
        numeric=[result.a, result.b],
    )
    for r in result.rejects_changed:
        rejects.add_row(r.entity, r.reason, f"{r.before:,}", f"{r.after:,}", r.change)
    rejects.caption = f"{same} entity/reason pairs unchanged"
    if not result.rejects_changed:
        rejects = f"rejects: {result.a} -> {result.b}: {rejects.caption}"
    variances = result_table("entity", result.a, result.b, "change", title="reconcile variances")
    for v in result.variances_changed:
        variances.add_row(v.entity, _count(v.before), _count(v.after), v.change)
    if not result.variances_changed:
        variances = "reconcile variances: none opened or closed"
    durations = result_table("phase", "step", result.a, result.b, "change", title="durations (seconds)")
    for d in result.durations:
        durations.add_row(d.phase, d.step, _secs(d.before), _secs(d.after), _delta(d.before, d.after))
    inputs = result_table("kind", "name", "change", title="inputs changed (by fingerprint)")
    for i in result.inputs:
        inputs.add_row(i.kind, i.name, i.change)
    if not result.inputs:
        inputs = "inputs: sources, mappings and value maps all unchanged (by fingerprint)"
    return [rejects, variances, durations, inputs]


def _count(n: int | None) -> str:
    return "not run" if n is None else f"{n:,}"


def _secs(s: float | None) -> str:
    return "-" if s is None else f"{s:,.2f}"


def _delta(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return ""
    pct = f" ({(after - before) / before:+.0%})" if before else ""
    return f"{after - before:+,.2f}{pct}"
