"""`migrate evidence PHASE_OR_POINT --out DIR|FILE.zip` and `migrate evidence verify DIR|FILE.zip`."""

from __future__ import annotations

from pathlib import Path

import typer

from migrate.cli.context import app_context, emit_json, reported_errors, require_target
from migrate.cli.output import counted
from migrate.errors import EXIT_FAILED, ConfigError


def evidence(
    ctx: typer.Context,
    what: str = typer.Argument(..., help="A phase or cutover point; or `verify` to check a pack."),
    pack: Path = typer.Argument(None, help="With `verify`: the pack folder or .zip to check."),
    out: Path = typer.Option(None, "--out", help="Write the pack to this new folder, or to FILE.zip."),
) -> None:
    """Write the evidence pack of a phase or cutover point, or verify one offline without the target.

    The pack holds a sealed manifest, the evidence record, gates, rejects, reconcile, signatures,
    the audit log and index.html. `verify` checks every file hash, every signature and the audit
    chain (exit 1 naming what differs)."""
    app = app_context(ctx)
    if out is None and what == "verify":
        _verify(ctx, pack)
        return
    with reported_errors(ctx):
        if out is None:
            raise ConfigError("give --out DIR (or FILE.zip) for the pack, or `migrate evidence verify DIR`.")
        from migrate.evidence.pack import build

        require_target(app)
        result = build(app.project, what, out, operator=app.operator)
    if app.json:
        emit_json(app, result.to_dict())
        return
    point = f"cutover point {result.point}" if result.point else "no cutover point yet"
    app.say(
        f"evidence pack of phase {result.phase} ({point}) written to {result.path}: {counted(result.files, 'files')}, "
        f"{counted(result.signatures, 'signatures')}, audit log to entry {result.audit_seq}. "
        f"Check it with `migrate evidence verify {result.path}`."
    )


def _verify(ctx: typer.Context, pack: Path | None) -> None:
    from migrate.evidence.check import verify_pack

    app = app_context(ctx)
    with reported_errors(ctx):
        if pack is None:
            raise ConfigError("give the pack to check: `migrate evidence verify DIR`.")
        result = verify_pack(pack)
    if app.json:
        emit_json(app, result.to_dict())
    elif result.ok:
        app.say(
            f"evidence pack intact: {counted(result.files, 'files')}, "
            f"{counted(result.signatures, 'signatures')} verified, "
            f"audit log of {counted(result.entries, 'entries')} linked."
        )
    else:
        app.err_console.print(
            f"[bold red]evidence pack NOT intact[/] ({counted(len(result.problems), 'problems')}):"
        )
        for problem in result.problems:
            app.err_console.print(f"  {problem}", markup=False)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)
