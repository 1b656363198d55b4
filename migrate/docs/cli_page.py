"""docs/cli.md: every command's help, rendered from the typer app at a fixed width."""

from __future__ import annotations

WIDTH = 100  # help is wrapped at this width whatever the terminal: the page is the same everywhere


def render() -> str:
    from migrate.cli.help import help_texts

    sections = [_section(title, text) for title, text in help_texts(WIDTH)]
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
