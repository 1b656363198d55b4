"""One reference project for the board's tests: the demo's cutover run (500 rows), then two
rehearsals with the equipment_status value map fixed in between (`ERR9` -> down)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.db import make_engine
from migrate.demo import run_demo
from migrate.load.hashing import content_hash
from migrate.model import MODEL_TABLES, audit_log, cutover_point, load_ledger
from migrate.project import Project

VALUE_MAP = "mappings/values/equipment_status.yaml"


def cli(root: Path, *args: str):
    return CliRunner().invoke(
        app, ["--project", str(root), "--operator", "qa", *args], env={"COLUMNS": "200"}
    )


def cli_json(root: Path, *args: str) -> dict:
    result = cli(root, "--json", *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def target_state(root: Path) -> dict:
    """The project target's content: every model table's hash, and the control tables' sizes."""
    engine = make_engine(Project(root).target_url)
    try:
        state = {t.name: content_hash(engine, t) for t in MODEL_TABLES}
        with engine.connect() as c:
            for table in (audit_log, cutover_point, load_ledger):
                state[table.name] = c.execute(select(func.count()).select_from(table)).scalar_one()
        return state
    finally:
        engine.dispose()


def fix_value_map(root: Path) -> None:
    path = root / VALUE_MAP
    text = path.read_text(encoding="utf-8")
    assert "ERR9" not in text
    path.write_text(text.replace("  DOWN: down\n", "  DOWN: down\n  ERR9: down\n"), encoding="utf-8")


@dataclass(frozen=True)
class Rehearsed:
    root: Path
    before: dict  # the project target's state before the rehearsals
    runs: tuple  # the two `rehearsal run` CLI results


@pytest.fixture(scope="session")
def rehearsed(tmp_path_factory) -> Rehearsed:
    root = tmp_path_factory.mktemp("board") / "project"
    run_demo(root, rows=500, operator="qa")
    before = target_state(root)
    first = cli(root, "rehearsal", "run", "mock-1")
    fix_value_map(root)
    second = cli(root, "rehearsal", "run", "mock-2")
    return Rehearsed(root, before, (first, second))
