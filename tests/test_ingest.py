"""The ingest process extract and map share (`migrate/ingest.py`): its failures reach each stage
as that stage's own error, naming what was being written (a source, a sheet; an entity's rows),
whether the driver failed or the process was killed; nothing is left in the scratch directory."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from migrate import ingest
from migrate.errors import MigrateError
from migrate.extract import extract, stage
from migrate.mapping import map_entities, tables
from migrate.project import Project
from migrate.workers import scratch_dir
from tests.extract.helpers import make_project, staged
from tests.map import scenario


def _disk_full(*args, **kwargs):
    raise ingest.IngestError("database or disk is full")


def _killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # in the ingest process: as the OOM killer ends it


def _scratch_files() -> set[str]:
    return {p.name for p in Path(scratch_dir()).glob(f"migrate-scratch-{os.getpid()}-*")}


def _database_project(root: Path) -> Project:
    db = root / "mes.db"
    with sqlite3.connect(db) as c:
        c.execute("create table p (id integer primary key, name text)")
        c.executemany("insert into p values (?, ?)", [(i, f"P{i}") for i in range(1, 8)])
    return make_project(root, {"p": {"kind": "sql", "url": f"sqlite:///{db}", "table": "p", "chunk_size": 3}})


@pytest.mark.parametrize(
    "fault, problem",
    [(_disk_full, "database or disk is full"), (_killed, "ended unexpectedly")],
    ids=["driver error", "kill -9"],
)
def test_a_database_sources_ingest_failure_names_the_source(tmp_path, monkeypatch, fault, problem):
    project = _database_project(tmp_path)
    monkeypatch.setattr(stage, "BULK_ROWS", 2)  # through the ingest process
    assert extract(project).sources[0].rows == 7
    before, scratch = staged(project, "p"), _scratch_files()
    monkeypatch.setattr(ingest, "ingest_sqlite", fault)  # the forked process inherits it
    with pytest.raises(MigrateError) as failed:
        extract(project, force=True)
    message = str(failed.value)
    assert message.startswith("source p: cannot write the work store sqlite:///"), message
    assert problem in message and failed.value.exit_code == 2
    assert "extract again" in failed.value.hint
    assert staged(project, "p") == before
    assert _scratch_files() <= scratch


def _map_project(root: Path) -> Project:
    scenario.build(root)
    return Project(root)


@pytest.mark.parametrize(
    "fault, problem, hint",
    [
        (_disk_full, "database or disk is full", "Free space"),
        (_killed, "the process writing them ended unexpectedly", "Run the map again"),
    ],
    ids=["driver error", "kill -9"],
)
def test_a_map_ingest_failure_names_the_entity(tmp_path, monkeypatch, fault, problem, hint):
    project = _map_project(tmp_path)
    monkeypatch.setattr(tables, "ARROW_MIN_ROWS", 1)  # every table through the ingest process
    scratch = _scratch_files()
    monkeypatch.setattr(ingest, "ingest_sqlite", fault)
    with pytest.raises(MigrateError) as failed:
        map_entities(project, ("material",))
    message = str(failed.value)
    assert message.startswith("the work store failed: cannot write material's mapped rows to sqlite:///")
    assert problem in message and hint in failed.value.hint, message
    assert failed.value.exit_code == 2
    assert _scratch_files() <= scratch
    monkeypatch.undo()
    monkeypatch.setattr(tables, "ARROW_MIN_ROWS", 1)
    assert map_entities(project, ("material",)).entities[0].mapped > 0  # the next run completes
