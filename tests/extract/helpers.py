"""Small builders for extract tests: a project folder around some source files."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import text

from migrate.project import Project
from migrate.store import WorkStore


def make_project(root: Path, sources: dict, staging: str | None = None) -> Project:
    data = {"name": "t", "sources": sources}
    if staging:
        data["staging"] = staging
    (root / "project.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return Project(root)


def staged(project: Project, source: str) -> list[dict]:
    store = WorkStore(project.staging_url)
    try:
        with store.engine.connect() as c:
            return [
                dict(r)
                for r in c.execute(text(f'SELECT * FROM "stg_{source}" ORDER BY "_row_id"')).mappings()
            ]
    finally:
        store.dispose()
