"""The `migrate` command: global options, then one sub-command group per stage."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from migrate import __version__
from migrate.cli.lazy import LazyGroup, lazy

# Every command, in the order of the command reference (docs/cli.md). Each is imported only
# when it runs (see migrate/cli/lazy.py): adding a command is one line here.
COMMANDS = {
    "init": lazy(
        "migrate.cli.init:init",
        "Scaffold a cutover project: project.yaml, phases, mappings, reconcile and rollback folders.",
    ),
    "new": lazy("migrate.cli.new:app", "Write a commented project file from the model, to fill in."),
    "docs": lazy(
        "migrate.cli.docs:docs",
        "Read the reference: the mapping language, the model, the project files, the commands.",
    ),
    "demo": lazy(
        "migrate.cli.demo:demo",
        "Generate the legacy factory and run every phase end to end on SQLite (extract, map, load, "
        "gates, cutover point), then reconcile the whole target.",
    ),
    "db": lazy(
        "migrate.cli.db:app", "Create, inspect and remove the unified model's tables in the target (alembic)."
    ),
    "sources": lazy(
        "migrate.cli.sources:app", "List the declared legacy sources and check them before extracting."
    ),
    "extract": lazy(
        "migrate.cli.extract:extract",
        "Read legacy sources into staging as text, with lineage; unchanged sources are skipped.",
    ),
    "map": lazy(
        "migrate.cli.map:map_command",
        "Map and validate staged rows into the unified model: rows in, mapped, rejected by reason, "
        "filtered by filter, unmapped values.",
    ),
    "values": lazy(
        "migrate.cli.values:app",
        "Export unmapped legacy codes to an xlsx for the consultant, and import it back.",
    ),
    "load": lazy(
        "migrate.cli.load:load",
        "Load mapped rows into the target in checkpointed chunks: exactly once, resumable, one writer at a time.",
    ),
    "reconcile": lazy(
        "migrate.cli.reconcile:reconcile",
        "Reconcile loaded entities: row accounting, control totals, row differences, traceability.",
    ),
    "phase": lazy("migrate.cli.phase:app", "Phases of the cutover: list, status, run P, approve P."),
    "rollback": lazy(
        "migrate.cli.rollback:app", "Cutover points and exact rollback: plan, rehearse, run, readiness."
    ),
    "trace": lazy(
        "migrate.cli.trace:trace",
        "Trace a lot through the genealogy in the target, back to suppliers or forward to customers.",
    ),
    "audit": lazy("migrate.cli.audit:app", "The tamper-evident log of every state-changing command."),
    "people": lazy("migrate.cli.sign:people_app", "People who sign, their roles and SSH keys (people.yaml)."),
    "sign": lazy(
        "migrate.cli.sign:sign",
        "Sign the current evidence of a phase with your SSH key, in a role, with a meaning.",
    ),
    "evidence": lazy(
        "migrate.cli.evidence:evidence",
        "Write the evidence pack of a phase or cutover point, or verify one offline without the target.",
    ),
    "rehearsal": lazy(
        "migrate.cli.rehearsal:app",
        "Rehearsals of the cutover on a scratch target: run NAME, list, compare [A B].",
    ),
    "report": lazy(
        "migrate.cli.report:report",
        "Write the lead's board: one self-contained HTML page of the cutover's state.",
    ),
}


class MigrateGroup(LazyGroup):
    lazy_commands = COMMANDS


app = typer.Typer(
    name="migrate",
    help="Move a manufacturer's legacy data into the unified ERP model, phase by phase, "
    "with row accounting, reconciliation and a way back at every cutover point.",
    cls=MigrateGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # locals may hold connection URLs; errors are rendered by us
    add_completion=True,  # --install-completion / --show-completion (typer's own)
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
    from migrate.cli.context import (
        AppContext,
        default_operator,
    )  # rich and the project specs: not for --version

    ctx.obj = AppContext(
        project_dir=project,
        target=target,
        json=json_out,
        quiet=quiet,
        operator=operator or default_operator(),
        debug=debug,
    )


def _hoist_global_flags(argv: list[str]) -> list[str]:
    """Accept `--json` after the command too (docs/cli.md) by moving it before the command."""
    if "--json" not in argv:
        return argv
    end = argv.index("--") if "--" in argv else len(argv)
    if "--json" not in argv[:end]:
        return argv
    rest = [a for i, a in enumerate(argv) if not (a == "--json" and i < end)]
    return ["--json", *rest]


_GLOBAL_VALUED = ("--project", "--target", "--operator")
_GLOBAL_FLAGS = ("--quiet", "--debug")


def misplaced_global(argv: list[str]) -> tuple[str, str] | None:
    """(option, command) for a global option written after the command (`migrate load --target
    URL`), which click would call "No such option"; None if there is none. `rehearsal` has a
    `--target` of its own (the scratch target)."""
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        i += 2 if argv[i] in _GLOBAL_VALUED else 1
    if i >= len(argv):
        return None
    command, rest = argv[i], argv[i + 1 :]
    rest = rest[: rest.index("--")] if "--" in rest else rest
    for arg in rest:
        name = arg.split("=", 1)[0]
        if name in _GLOBAL_VALUED + _GLOBAL_FLAGS and not (name == "--target" and command == "rehearsal"):
            return name, command
    return None


def main() -> None:
    args = _hoist_global_flags(sys.argv[1:])
    if misplaced := misplaced_global(args):
        option, command = misplaced
        print(
            f"error: {option} is a global option: write it before the command, e.g. "
            f"`migrate {option}{' VALUE' if option in _GLOBAL_VALUED else ''} {command} ...`.",
            file=sys.stderr,
        )
        sys.exit(2)
    try:
        app(args=args, prog_name="migrate")
    except Exception as exc:  # a bug after a stage returned (rendering its result): no traceback either
        if "--debug" in args:
            raise
        from rich.console import Console

        from migrate.cli.context import internal_error

        internal_error(exc, json_out="--json" in args, console=Console(stderr=True, highlight=False))
        sys.exit(1)
