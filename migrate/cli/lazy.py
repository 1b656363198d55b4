"""Commands imported only when they run, so `migrate --version` and `--help` start fast.

A command module imports its stage (pandas, pyarrow, SQLAlchemy, the legacy factory…):
importing all of them made `migrate --version` take ~2 s. Here the root group knows each
command by an import path and its one-line help, and imports the module only when the
command is resolved (run, `migrate CMD --help`, completion below it).

Registering a command is one line in `app.py`'s `COMMANDS`:

    "load": lazy("migrate.cli.load:load", "Load mapped rows into the target in checkpointed chunks."),

The path names a function (a command) or a `typer.Typer` (a command group). The help is
what `migrate --help` lists without importing; a test checks it equals the command's own
short help, so the two cannot drift.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import CompletionItem, TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    target: str  # "package.module:attribute": a command function or a typer.Typer group
    help: str  # the short help listed by `migrate --help`

    def resolve(self) -> Any:
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


def lazy(target: str, help: str) -> LazyCommand:
    return LazyCommand(target, help)


def build_command(name: str, entry: LazyCommand, *, rich_markup_mode: Any = None) -> Any:
    """The click command for one entry, built exactly as an eagerly registered one would be."""
    holder = typer.Typer(add_completion=False, rich_markup_mode=rich_markup_mode)
    found = entry.resolve()
    if isinstance(found, typer.Typer):
        holder.add_typer(found, name=name)
    else:
        holder.command(name)(found)
    holder.callback()(lambda: None)  # a callback makes typer build a group around the entry
    return typer.main.get_group(holder).commands[name]


class LazyGroup(TyperGroup):
    """The root group: `lazy_commands` are listed from their registered help, built on use."""

    lazy_commands: dict[str, LazyCommand] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in self.lazy_commands if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            command = build_command(
                cmd_name, self.lazy_commands[cmd_name], rich_markup_mode=self.rich_markup_mode
            )
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """typer suggests close names from the commands built so far: offer the lazy ones too."""
        from typer._click.exceptions import UsageError

        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            close = difflib.get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if close and "Did you mean" not in exc.message:
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(map(repr, close))}?"
            raise

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list from the registered help: `--help` imports no command module."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(name, _short_help(self._help(ctx, name), limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        """Complete command names from the registry (nothing imported), then options."""
        names = [n for n in self.list_commands(ctx) if n.startswith(incomplete)]
        items = [CompletionItem(n, help=self._help(ctx, n)) for n in names]
        return items + super(TyperGroup, self).shell_complete(ctx, incomplete)

    def _help(self, ctx: Any, name: str) -> str:
        if name in self.lazy_commands:
            return self.lazy_commands[name].help
        return self.commands[name].get_short_help_str(10_000)


def _short_help(text: str, limit: int) -> str:
    from typer._click.utils import make_default_short_help

    return make_default_short_help(text, limit)


def all_commands(
    group: Any, ctx: Any = None, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], Any]]:
    """Every command under a click group, depth first, as (path, command); imports them all."""
    out = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        out.append(((*prefix, name), command))
        if hasattr(command, "list_commands"):
            out.extend(all_commands(command, ctx, (*prefix, name)))
    return out
