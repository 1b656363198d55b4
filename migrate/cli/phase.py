"""`migrate phase`: list the phases, see where each stands, run one, approve one."""

from __future__ import annotations

import sys
import time

import typer

from migrate import phase as phases
from migrate.cli.context import (
    AppContext,
    app_context,
    emit_json,
    progress_for,
    reported_errors,
    require_target,
)
from migrate.cli.load import render as render_load
from migrate.cli.output import table
from migrate.urls import redact

app = typer.Typer(help="Phases of the cutover: list, status, run P, approve P.")


def _command() -> str:
    return redact(" ".join(["migrate", *sys.argv[1:]]))[:500]


@app.command("list")
def list_command(ctx: typer.Context) -> None:
    """The phases of phases/plan.yaml in order, with their entities and dependencies."""
    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        plan = app_ctx.project.plan
    if app_ctx.json:
        emit_json(app_ctx, {"ok": True, "phases": [p.model_dump() for p in plan.phases]})
        return
    grid = table("phase", "entities", "depends on", "description")
    for p in plan.phases:
        grid.add_row(p.name, ", ".join(p.entities), ", ".join(p.depends_on), p.description)
    app_ctx.show(grid)


@app.command("status")
def status(
    ctx: typer.Context,
    phase: str | None = typer.Argument(
        None, help="Show the gates and signatures of this phase only (the overview lists every phase)."
    ),
    no_reconcile: bool = typer.Option(
        False, "--no-reconcile", help="Skip reconciling (faster; the reconcile gate shows as not measured)."
    ),
) -> None:
    """Per phase: state, entities loaded (per the load checkpoints), gates with their measured
    values, cutover point; with --json also rejects, reconcile, rollback readiness, the ETA and
    the audit head: the facts `migrate report` draws."""
    from migrate.status import collect

    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        if phase is not None:
            app_ctx.project.plan.phase(phase)  # a misspelt name is refused (with a suggestion) first
        require_target(app_ctx)
        board = collect(app_ctx.project, reconcile=not no_reconcile)
    if app_ctx.json:
        emit_json(app_ctx, board.to_dict())
        return
    grid = table("phase", "state", "entities", "gates", "cutover point")
    for b in board.phases:
        s = b.status
        entities = ", ".join(f"{e.entity} {'✓' if e.state == 'loaded' else e.state}" for e in s.entities)
        point = f"{s.point.name} ({app_ctx.when(s.point.created_at)})" if s.point else "not approved"
        grid.add_row(s.name, b.state, entities, "; ".join(s.gates), point)
    app_ctx.show(grid)
    for b in board.phases:
        if phase is None or b.status.name == phase:
            render_live(app_ctx, b)


def render_live(app_ctx: AppContext, b) -> None:
    """A loaded phase's gates as measured now (`migrate.status`), its signatures present and missing."""
    s = b.status
    if not s.live:
        return
    grid = table("gate", "measured", "threshold", "met", "detail", title=f"phase {s.name}: gates now")
    for g in b.gate_values:
        met = "not checked" if g.met is None else ("yes" if g.met else "NO")
        grid.add_row(g.gate, g.measured, g.threshold, met, g.detail)
    app_ctx.show(grid)
    if s.signoff and (s.signoff.required or s.signoff.present):
        for state in s.signoff.present:
            sig = state.signature
            verdict = "valid" if state.problem is None else f"not valid: {state.problem}"
            if s.signoff.superseded(state):
                verdict = "superseded: signed again over the current evidence"
            app_ctx.result(
                f"  signature {sig.id}: {sig.printed_name} ({sig.signer}), {sig.role} {sig.meaning}, "
                f"{app_ctx.when(sig.signed_at)}: {verdict}"
            )
        missing = ", ".join(s.signoff.missing) or "none"
        app_ctx.result(f"  signatures missing: {missing}")


@app.command("run")
def run(ctx: typer.Context, phase: str = typer.Argument(..., help="The phase to run.")) -> None:
    """Extract, map and load the phase's entities (then `migrate phase approve PHASE`)."""
    from migrate.rehearsal.eta import paced

    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        require_target(app_ctx)
        with progress_for(ctx) as progress:
            progress, expected = paced(progress, app_ctx.project, phase)
            started = time.perf_counter()
            result = phases.run(
                app_ctx.project, phase, operator=app_ctx.operator, command=_command(), progress=progress
            )
            seconds = time.perf_counter() - started
    pace = {"seconds": round(seconds, 2), "expected": expected.to_dict() if expected else None}
    if app_ctx.json:
        emit_json(app_ctx, result.to_dict() | {"pace": pace})
        return
    app_ctx.show(render_load(result.loaded))
    if expected and expected.automatic_seconds:
        # approve adds the gates' share; run covers extract, map and load
        share = sum(v for k, v in expected.steps.items() if k in ("extract", "map", "load"))
        app_ctx.say(f"took {seconds:,.1f} s; the last rehearsal, scaled, expected ~{share:,.1f} s.")
    if result.unapproved:
        waiting = ", ".join(result.unapproved)
        app_ctx.result(
            f"phase {phase} ran before {waiting}, which it depends on, was approved: its rows that refer "
            f"to rows of {waiting} not loaded yet were rejected. Run and approve {waiting} first, then run "
            f"{phase} again (`migrate phase approve` refuses while a later phase's rows are in the target; "
            "`migrate rollback run --to start` removes them)."
        )
        return
    app_ctx.result(f"phase {phase} loaded; check it with `migrate phase approve {phase}`.")


@app.command("approve")
def approve(ctx: typer.Context, phase: str = typer.Argument(..., help="The phase to approve.")) -> None:
    """Check the phase's gates (earlier phases approved, entities loaded, reconcile within
    tolerance, declared gates) and record its cutover point; exit 1 "gate not met" naming the gate."""
    app_ctx = app_context(ctx)
    with reported_errors(ctx):
        require_target(app_ctx)
        with progress_for(ctx) as progress:
            result = phases.approve(
                app_ctx.project, phase, operator=app_ctx.operator, command=_command(), progress=progress
            )
    if app_ctx.json:
        emit_json(app_ctx, result.to_dict())
        return
    grid = table("gate", "met", "detail", title=f"phase {phase}")
    for g in result.gates:
        grid.add_row(g.gate, "yes" if g.met else "no", g.detail)
    app_ctx.show(grid)
    app_ctx.result(
        f"phase {phase} approved: cutover point {phase} recorded (roll back to it with --to {phase})."
    )
