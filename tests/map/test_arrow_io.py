"""Map's Arrow input and output: the ADBC reader and ingest processes (SQLite) and COPY
(PostgreSQL) write exactly what the driver path writes, and the fingerprint map records is
the one load would compute by reading the table."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
import yaml

from migrate.db import make_engine
from migrate.mapping import map_entities, tables
from migrate.model import ENTITIES
from migrate.project import Project
from migrate.store import WorkStore, input_fingerprint, mapped_table, stored_fingerprint
from tests.map import scenario

ENTITIES_MAPPED = ("material", "material_lot")


def _project(root, chunk: int = 1, staging: str | None = None) -> Project:
    """The scenario, mapped in chunks of `chunk` rows (several reads and ingests per entity)."""
    scenario.build(root)
    spec = yaml.safe_load((root / "project.yaml").read_text(encoding="utf-8"))
    spec["defaults"] = {"chunk_size": chunk}
    if staging is not None:
        _copy_staging(spec["staging"], staging)
        spec["staging"] = staging
    (root / "project.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return Project(root)


def _copy_staging(source: str, target: str) -> None:
    """The staged tables, as extract wrote them, moved into another work store."""
    src, dst = make_engine(source), make_engine(target)
    try:
        for name in ("stg_mat", "stg_lots"):
            frame = pd.read_sql_table(name, src)
            frame.to_sql(name, dst, index=False)
    finally:
        src.dispose()
        dst.dispose()


def _written(project: Project) -> dict[str, list[tuple]]:
    """Every row map wrote (mapped tables and rejects), and the recorded fingerprints."""
    store = WorkStore(project.staging_url)
    out = {}
    try:
        for name in [*(mapped_table(e) for e in ENTITIES_MAPPED), "map_rejects"]:
            with store.engine.connect() as conn:
                rows = conn.exec_driver_sql(f'SELECT * FROM "{name}" ORDER BY "_row_id"').all()
            out[name] = [tuple(row) for row in rows]
        for entity in ENTITIES_MAPPED:
            out[f"fingerprint {entity}"] = stored_fingerprint(store.engine, mapped_table(entity))
    finally:
        store.dispose()
    return out


def _mapped(project: Project) -> tuple[dict, dict]:
    result = map_entities(project, ENTITIES_MAPPED)
    return result.to_dict(), _written(project)


def test_arrow_processes_write_what_the_driver_path_writes(tmp_path, monkeypatch):
    driver_result, driver_rows = _mapped(_project(tmp_path / "driver"))
    monkeypatch.setattr(tables, "ARROW_MIN_ROWS", 1)  # every table through the ADBC processes
    arrow_result, arrow_rows = _mapped(_project(tmp_path / "arrow"))
    assert arrow_result == driver_result
    assert arrow_rows == driver_rows
    assert len(driver_rows["map_material"]) > 1 and len(driver_rows["map_rejects"]) > 1  # several chunks


def test_recorded_fingerprint_is_the_one_load_reads(tmp_path):
    project = _project(tmp_path)
    map_entities(project, ENTITIES_MAPPED)
    store = WorkStore(project.staging_url)
    try:
        for entity in ENTITIES_MAPPED:
            columns = list(ENTITIES[entity].mapped_columns)
            recorded = stored_fingerprint(store.engine, mapped_table(entity))
            assert recorded is not None
            assert recorded == input_fingerprint(store.engine, mapped_table(entity), columns)
    finally:
        store.dispose()


@pytest.mark.postgres
def test_postgresql_work_store_copy_writes_the_same_rows(tmp_path, pg_url):
    _, sqlite_rows = _mapped(_project(tmp_path / "sqlite"))
    result, pg_rows = _mapped(_project(tmp_path / "pg", staging=pg_url))
    assert pg_rows == sqlite_rows  # the same rows and fingerprints: COPY escapes what it must
    store = WorkStore(pg_url)
    try:
        lot = mapped_table("material_lot")
        columns = list(ENTITIES["material_lot"].mapped_columns)
        assert stored_fingerprint(store.engine, lot) == input_fingerprint(store.engine, lot, columns)
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f'UPDATE "{lot}" SET "quantity" = "quantity" WHERE "_row_id" = 1')
        assert stored_fingerprint(store.engine, lot) is None  # any statement on it: read again
    finally:
        store.dispose()


def test_hand_edit_of_mapped_rows_forgets_the_recorded_fingerprint(tmp_path):
    project = _project(tmp_path)
    map_entities(project, ENTITIES_MAPPED)
    path = project.staging_url.database
    lot = mapped_table("material_lot")
    for statement in (
        f"UPDATE {lot} SET quantity = '1.000000' WHERE _row_id = 2",
        f"DELETE FROM {lot} WHERE _row_id = 1",
        f"INSERT INTO {lot} (_row_id, lot_no) VALUES (999, 'HAND')",
    ):
        map_entities(project, ENTITIES_MAPPED)
        store = WorkStore(project.staging_url)
        before = stored_fingerprint(store.engine, lot)
        assert before is not None
        con = sqlite3.connect(path)
        with con:
            con.execute(statement)
        con.close()
        assert stored_fingerprint(store.engine, lot) is None, statement
        columns = list(ENTITIES["material_lot"].mapped_columns)
        assert input_fingerprint(store.engine, lot, columns) != before
        store.dispose()
