"""`migrate demo`: the reference project end to end on SQLite, in a folder of its own.

The reference project's files (project.yaml, phases, mappings, reconcile rules, rollback
plans) are copied from the source checkout, the legacy factory is generated afresh at the
requested size, and every stage runs in order. Nothing outside the folder is touched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import migrate
from migrate import factory
from migrate.errors import ConfigError

REFERENCE_FILES = ("project.yaml", "phases", "mappings", "reconcile", "rollback")


def reference_project() -> Path:
    """The reference project: the root of the source checkout this package runs from."""
    root = Path(migrate.__file__).resolve().parent.parent
    if not (root / "project.yaml").is_file() or not (root / "mappings").is_dir():
        raise ConfigError(
            "the demo needs the reference project, which ships with the source checkout, not the wheel.",
            hint="Clone the repository and run `make demo` there.",
        )
    return root


def prepare(directory: Path, *, rows: int | None = None, seed: int = 7) -> dict:
    """Copy the reference project into `directory` and generate its legacy sources; returns the manifest."""
    directory = Path(directory).resolve()
    source = reference_project()
    if directory == source:
        raise ConfigError("the demo folder must not be the reference project itself.", hint="Use --dir.")
    directory.mkdir(parents=True, exist_ok=True)
    for name in REFERENCE_FILES:
        src, dest = source / name, directory / name
        if dest.is_dir():
            shutil.rmtree(dest)
        if src.is_dir():
            shutil.copytree(src, dest)
        elif src.is_file():
            shutil.copy2(src, dest)
    # A fresh run each time: old work store, target and sources go.
    for stale in (directory / ".migrate", directory / "fixtures"):
        shutil.rmtree(stale, ignore_errors=True)
    return factory.generate(directory / "fixtures", seed=seed, scale=rows if rows else "default")
