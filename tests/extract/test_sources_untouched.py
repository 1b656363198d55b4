"""Sources are never written to (docs/guarantees.md#sources-are-read-never-written) — not even the header bytes SQLite's WAL pragma rewrites."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from sqlalchemy import text

from migrate.db import make_engine
from migrate.extract import extract
from migrate.project import Project
from migrate.store import WorkStore


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_extracting_a_sqlite_source_leaves_its_bytes_alone(tmp_path):
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    shutil.copytree(root / "fixtures", tmp_path / "fixtures")
    shutil.copy(root / "project.yaml", tmp_path / "project.yaml")
    shutil.copytree(root / "phases", tmp_path / "phases")
    mes = tmp_path / "fixtures" / "legacy" / "mes.db"
    before = digest(mes)
    project = Project(tmp_path)
    result = extract(project, ("mes_equipment", "mes_process_parameters"))
    assert sum(s.rows for s in result.sources) > 0
    assert digest(mes) == before
    WorkStore(project.staging_url).dispose()


def test_read_only_engine_refuses_writes(tmp_path, pg_url):
    path = tmp_path / "src.db"
    writable = make_engine(f"sqlite:///{path}")
    with writable.begin() as c:
        c.execute(text("CREATE TABLE t (x INTEGER)"))
    writable.dispose()
    for url in (f"sqlite:///{path}", pg_url):
        engine = make_engine(url, read_only=True)
        with pytest.raises(Exception, match="(?i)read.only|readonly"), engine.begin() as c:
            c.execute(text("CREATE TABLE u (x INTEGER)"))
        engine.dispose()
