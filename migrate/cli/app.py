"""The `migrate` command: global options, then one sub-command group per stage."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from migrate import __version__
from migrate.cli import audit, db, demo, init, load, trace
from migrate.cli import extract as extract_cli
from migrate.cli import map as map_cli
from migrate.cli import phase as phase_cli
from migrate.cli import reconcile as reconcile_cli
from migrate.cli import rehearsal as rehearsal_cli
from migrate.cli import report as report_cli
from migrate.cli import rollback as rollback_cli
from migrate.cli import sources as sources_cli
from migrate.cli import values as values_cli
from migrate.cli.context import AppContext, default_operator

app = typer.Typer(
    name="migrate",
    help="Move a manufacturer's legacy data into the unified ERP model, phase by phase, "
    "with row accounting, reconciliation and a way back at every cutover point.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # locals may hold connection URLs; errors are rendered by us
    add_completion=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"migrate {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    project: Path = typer.Option(Path("."), "--project", "-p", help="The cutover project folder."),
    target: str | None = typer.Option(
        None, "--target", help="Target database URL (overrides project.yaml).", envvar="MIGRATE_TARGET"
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable result on stdout, nothing else."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or chatter."),
    operator: str = typer.Option(
        None, "--operator", help="Who runs this, for the audit log (default: the OS user)."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    ctx.obj = AppContext(
        project_dir=project,
        target=target,
        json=json_out,
        quiet=quiet,
        operator=operator or default_operator(),
        debug=debug,
    )


# In the order of DESIGN §5.
app.command("init")(init.init)
app.command("demo")(demo.demo)
app.add_typer(db.app, name="db")
app.add_typer(sources_cli.app, name="sources")
app.command("extract")(extract_cli.extract)
app.command("map")(map_cli.map_command)
app.add_typer(values_cli.app, name="values")
app.command("load")(load.load)
app.command("reconcile")(reconcile_cli.reconcile)
app.add_typer(phase_cli.app, name="phase")
app.add_typer(rollback_cli.app, name="rollback")
app.command("trace")(trace.trace)
app.add_typer(audit.app, name="audit")
app.add_typer(rehearsal_cli.app, name="rehearsal")
app.command("report")(report_cli.report)


def _hoist_global_flags(argv: list[str]) -> list[str]:
    """Accept `--json` after the command too (DESIGN §5) by moving it before the command."""
    if "--json" not in argv:
        return argv
    end = argv.index("--") if "--" in argv else len(argv)
    if "--json" not in argv[:end]:
        return argv
    rest = [a for i, a in enumerate(argv) if not (a == "--json" and i < end)]
    return ["--json", *rest]


def main() -> None:
    app(args=_hoist_global_flags(sys.argv[1:]), prog_name="migrate")
