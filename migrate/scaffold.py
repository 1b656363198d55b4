"""`migrate init`: a new cutover project from the templates shipped in the package."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from migrate.errors import ConfigError
from migrate.skeleton import write_skeletons

# Stored without the dot so that packaging tools do not skip it.
_RENAMES = {"gitignore": ".gitignore"}


def scaffold(directory: Path, *, name: str | None = None) -> list[Path]:
    """Write the template project into `directory`, and a mapping skeleton per entity from the
    model (mappings/skeletons/); refuses to overwrite an existing project."""
    directory = Path(directory)
    if (directory / "project.yaml").exists():
        raise ConfigError(
            "a project already exists here.",
            file=str(directory / "project.yaml"),
            hint="Choose another folder.",
        )
    written = []
    root = files("migrate") / "templates" / "project"
    for source, relative in _walk(root, Path()):
        dest = (
            directory / _RENAMES.get(relative.name, relative.name)
            if relative.parent == Path()
            else (directory / relative)
        )
        dest.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        if relative == Path("project.yaml"):
            text = text.replace("name: my-cutover", f"name: {name or directory.resolve().name}")
        dest.write_text(text, encoding="utf-8")
        written.append(dest)
    return written + write_skeletons(directory)


def _walk(node, relative: Path):
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            yield from _walk(child, relative / child.name)
        elif child.name != "__pycache__":
            yield child, relative / child.name
