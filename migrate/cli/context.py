"""What every command receives: the global options, the project, and the one error path."""

from __future__ import annotations

import getpass
import json
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import DBAPIError

from migrate.cli.live import LiveStages, live_progress
from migrate.cli.output import print_table, when
from migrate.db import database_fault
from migrate.errors import EXIT_FAILED, ConfigError, MigrateError
from migrate.progress import NO_PROGRESS, Progress
from migrate.project import Project
from migrate.urls import redact

PIPE_WIDTH = 10_000  # "no limit" for rich: tables and lines take their natural width


@dataclass
class AppContext:
    project_dir: Path
    target: str | None
    json: bool
    quiet: bool
    operator: str
    debug: bool

    @cached_property
    def project(self) -> Project:
        return Project(self.project_dir, target_override=self.target)

    @cached_property
    def terminal(self) -> bool:
        return sys.stdout.isatty()

    @cached_property
    def console(self) -> Console:
        if self.terminal:
            return Console(highlight=False, soft_wrap=False)
        # piped: plain text at full width (a script or a file gets whole lines, never wrapped or cut)
        return Console(highlight=False, soft_wrap=True, width=PIPE_WIDTH, color_system=None)

    @cached_property
    def err_console(self) -> Console:
        return Console(stderr=True, highlight=False)

    @property
    def interactive(self) -> bool:
        return not (self.json or self.quiet) and self.terminal

    def say(self, text: str) -> None:
        """Chatter: a human line on stdout, unless --json or --quiet."""
        if not (self.json or self.quiet):  # plain text: a legacy value '[/void]' is not markup
            self.console.print(redact(text), markup=False)

    def result(self, text: str) -> None:
        """The command's answer as a line: shown under --quiet too (never under --json)."""
        if not self.json:
            self.console.print(redact(text), markup=False)

    def detail(self, text: str) -> None:
        """A result line under a table, indented two columns; on a terminal what wraps hangs
        four columns in, so each detail's start stands out (wrapped by rich: CJK is two cells)."""
        if self.json:
            return
        if not self.terminal:
            self.console.print("  " + redact(text), markup=False)
            return
        lines = Text(redact(text)).wrap(self.console, max(20, self.console.width - 4))
        for i, line in enumerate(lines):
            line.rstrip()
            self.console.print(Text("  " if i == 0 else "    ") + line, soft_wrap=True)

    def show(self, grid: Table) -> None:
        """A result table, whole at any width (see output.print_table); shown under --quiet too."""
        if not self.json:
            print_table(self.console, grid)

    def when(self, moment: datetime | None) -> str:
        """A time in the project's time zone with its offset (UTC outside a project)."""
        try:
            zone = self.project.spec.defaults.timezone
        except MigrateError:
            zone = None
        return when(moment, zone)


NO_SOURCES = (
    "No sources are declared in project.yaml: declare each legacy file or table under `sources:` "
    "(`migrate docs project sources` shows every kind and option)."
)
NO_MAPPINGS = (
    "No mapping files in mappings/: write one per entity with `migrate new mapping ENTITY --source S` "
    "(`migrate docs mapping` shows the language)."
)


def require_target(app: AppContext) -> None:
    """Refuse a target whose tables are missing or not at the schema's head: exit 2 saying to
    run `migrate db upgrade` (the engines would otherwise fail on a missing table)."""
    from migrate.db import make_engine, require_schema  # alembic: only for commands that need it

    engine = make_engine(app.project.target_url)
    try:
        require_schema(engine)
    finally:
        engine.dispose()


def default_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers)
        return "unknown"


def app_context(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
    return obj


@contextmanager
def reported_errors(ctx: typer.Context) -> Iterator[None]:
    """Turn the toolkit's errors into one paragraph and an exit code; a traceback only with --debug."""
    app = app_context(ctx)
    try:
        yield
    except MigrateError as exc:
        _report(app, exc)
    except KeyboardInterrupt:
        app.err_console.print("[bold red]interrupted[/] (Ctrl-C).")
        raise typer.Exit(130) from None  # 128 + SIGINT, what shells expect
    except (typer.Exit, typer.Abort):
        raise
    except DBAPIError as exc:  # a database unreachable, refusing the login or a right: not a bug
        fault = database_fault(None, exc)
        if fault is None:
            _internal(app, exc)
        _report(app, fault)
    except Exception as exc:  # a bug: say so, without locals or secrets
        _internal(app, exc)


def _report(app: AppContext, exc: MigrateError) -> NoReturn:
    """The error as one paragraph (and as JSON on stdout under --json); exit with its code."""
    if app.debug:
        app.err_console.print(redact(traceback.format_exc()), markup=False)
    if app.json:
        print(json.dumps({"ok": False, **_clean(exc.to_dict())}, ensure_ascii=False, default=_jsonable))
    app.err_console.print(f"[bold red]error:[/] {_escape(redact(exc.message))}")
    raise typer.Exit(exc.exit_code) from None


def _internal(app: AppContext, exc: Exception) -> NoReturn:
    if app.debug:
        app.err_console.print(redact(traceback.format_exc()), markup=False)
    internal_error(exc, json_out=app.json, console=app.err_console)
    raise typer.Exit(EXIT_FAILED) from None


def internal_error(exc: Exception, *, json_out: bool, console: Console) -> None:
    """A bug, said in one paragraph (and on stdout as JSON under --json): its type and message,
    redacted, never a traceback (they hold locals' values and legacy data)."""
    message = redact(f"{type(exc).__name__}: {exc}")
    if json_out:
        print(json.dumps({"ok": False, "error": "InternalError", "message": message}, ensure_ascii=False))
    console.print(
        f"[bold red]internal error:[/] {_escape(message)}\nRe-run with --debug for the traceback, "
        "and report it with the command that caused it."
    )


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _clean(data: dict) -> dict:
    return {k: v for k, v in data.items() if v is not None}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def confirmed(app: AppContext, yes: bool, what: Any, question: str) -> None:
    """Nothing destroyed by surprise (docs/guarantees.md#nothing-destroyed-by-surprise): show what will happen and ask on a
    terminal; scripts and --json must say --yes. Declined: exit 1, nothing done."""
    if yes:
        return
    if app.json or not (sys.stdin.isatty() and app.terminal):
        raise ConfigError(
            f"{question.rstrip('?')}: this changes the target for good and needs a confirmation.",
            hint="Run it from a terminal to be asked, or add --yes.",
        )
    app.console.print(what() if callable(what) else what)
    if not typer.confirm(question, default=False):
        app.err_console.print("nothing done.")
        raise typer.Exit(EXIT_FAILED)


def audit_reachable(app: AppContext) -> None:
    """Before a command changes the work store: the target its audit entry goes to answers."""
    from migrate import audit

    audit.require_reachable(app.project.target_url)


def audited(app: AppContext, command: str, details: dict | None = None) -> None:
    """Append this state-changing command to the target's audit log (docs/guarantees.md#tamper-evident-audit)."""
    from migrate import audit

    audit.record_if_ready(app.project.target_url, app.operator, command, details)


def emit_json(app: AppContext, data: dict) -> None:
    """The machine-readable result: the only thing on stdout under --json; secrets scrubbed."""
    text = json.dumps(data, ensure_ascii=False, default=_jsonable, indent=2)
    print(redact(text))


@contextmanager
def progress_for(ctx: typer.Context) -> Iterator[Progress]:
    """Live progress on a terminal (migrate/cli/live.py); nothing under --json, --quiet or a pipe."""
    app = app_context(ctx)
    if not app.interactive:
        yield NO_PROGRESS
        return
    with live_progress(app.console) as progress:
        stages = LiveStages(progress)
        try:
            yield stages
        except BaseException:  # an error or a signal: the running stages did not finish
            stages.close(stopped=True)
            raise
        stages.close()
