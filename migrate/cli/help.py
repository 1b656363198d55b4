"""Every command's `--help` text, for the generated command reference (docs/cli.md)."""

from __future__ import annotations

import typer

from migrate.cli.app import app
from migrate.cli.lazy import all_commands


def help_texts(width: int) -> list[tuple[str, str]]:
    """(`migrate …`, its help) for the root and every command, wrapped at `width` whatever the
    terminal, so the page is the same everywhere."""
    root = typer.main.get_command(app)
    contexts = {
        (): root.context_class(root, info_name="migrate", terminal_width=width, max_content_width=width)
    }
    texts = [("migrate", root.get_help(contexts[()]))]
    for path, command in all_commands(root, contexts[()]):
        ctx = command.context_class(command, info_name=path[-1], parent=contexts[path[:-1]])
        contexts[path] = ctx
        texts.append(("migrate " + " ".join(path), command.get_help(ctx)))
    return texts
