"""docs/cli.md: every command's help, rendered from the typer app at a fixed width."""

from __future__ import annotations

WIDTH = 100  # help is wrapped at this width whatever the terminal: the page is the same everywhere


def render() -> str:
    import typer

    from migrate.cli.app import app
    from migrate.cli.lazy import all_commands

    root = typer.main.get_command(app)
    contexts = {
        (): root.context_class(root, info_name="migrate", terminal_width=WIDTH, max_content_width=WIDTH)
    }
    sections = [_section("migrate", root.get_help(contexts[()]))]
    for path, command in all_commands(root, contexts[()]):
        ctx = command.context_class(command, info_name=path[-1], parent=contexts[path[:-1]])
        contexts[path] = ctx
        sections.append(_section("migrate " + " ".join(path), command.get_help(ctx)))
    index = "\n".join(f"- [`{title}`](#{_anchor(title)})" for title, _ in sections[1:])
    return "\n".join(
        [
            "# Command reference\n",
            "Every command's `--help`. Global options (`--project`, `--target`, `--json`, `--quiet`, "
            "`--operator`, `--debug`) come before the command; `--json` is also accepted after it. "
            "Exit codes: 0 success; 1 the command ran and found a failure (a reconcile mismatch past "
            "tolerance, a gate not met, a lock held); 2 bad usage, configuration or input, with one "
            "paragraph naming the file, sheet, row or key.\n",
            index + "\n",
            *(text for _, text in sections),
        ]
    )


def _section(title: str, help_text: str) -> tuple[str, str]:
    return title, f"## `{title}`\n\n```text\n{help_text.rstrip()}\n```\n"


def _anchor(title: str) -> str:
    from migrate.docs.specs import anchor

    return anchor(title)
