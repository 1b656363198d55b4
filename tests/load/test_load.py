"""Load on SQLite and PostgreSQL: upsert by natural key, deltas (T7), changed input under resume (T8),
replace without a hole (T14), references and the content hash."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from migrate import db
from migrate.db import make_engine
from migrate.errors import ConfigError, TargetError
from migrate.load import load
from migrate.load.faults import Faults
from migrate.load.hashing import content_hash
from migrate.model import ENTITIES, MODEL_TABLES
from migrate.store import input_fingerprint, mapped_table, record_fingerprint, stored_fingerprint
from tests.load.conftest import hashes, scalar
from tests.load.mapped import make_store, parents, process_parameters, write_table
from tests.load.test_crash import crash

PP = "process_parameter"


def ledger_counts(url: str, run_id: int, entity: str = PP) -> dict[str, int]:
    engine = make_engine(url)
    from sqlalchemy import text

    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT op, SUM(id_hi - id_lo + 1) FROM migrate_load_ledger "
                "WHERE run_id = :r AND entity = :e GROUP BY op"
            ),
            {"r": run_id, "e": entity},
        ).all()
    engine.dispose()
    return {op: int(n) for op, n in rows}


def test_first_load_inserts_everything_and_records_the_run(target, store):
    result = load(target, store, chunk_size=500, operator="li.wei", command="migrate load --all")
    pp = next(e for e in result.entities if e.entity == PP)
    assert (pp.inserted, pp.updated, pp.unchanged, pp.chunks) == (2_000, 0, 0, 4)
    assert scalar(target, f"SELECT COUNT(*) FROM {PP}") == 2_000
    assert ledger_counts(target, result.run_id) == {"insert": 2_000}
    assert scalar(target, "SELECT operator FROM migrate_load_run WHERE id = :r", r=result.run_id) == "li.wei"
    assert scalar(target, "SELECT status FROM migrate_load_run WHERE id = :r", r=result.run_id) == "completed"
    fingerprints = json.loads(scalar(target, "SELECT input_fingerprints FROM migrate_load_run"))
    assert set(fingerprints) == set(parents()) | {PP}
    assert scalar(target, "SELECT COUNT(*) FROM migrate_lease") == 0  # released


def test_values_arrive_typed_and_references_resolved(target, store):
    load(target, store)
    row = scalar(
        target,
        "SELECT w.work_order_no || '|' || e.equipment_code FROM process_parameter p "
        "JOIN work_order w ON w.id = p.work_order_id JOIN equipment e ON e.id = p.equipment_id "
        "WHERE p.parameter = 'temp1' ORDER BY p.recorded_at LIMIT 1",
    )
    assert row == "WO0001|E01"
    engine = make_engine(target)
    from sqlalchemy import select

    from migrate.model import material_lot, process_parameter

    with engine.connect() as c:
        pp = c.execute(select(process_parameter).order_by(process_parameter.c.recorded_at).limit(4)).all()
        lot = c.execute(select(material_lot).where(material_lot.c.lot_no == "LOT00007")).one()
    engine.dispose()
    assert str(pp[3].value) == "111.000003" and pp[3].in_spec is True
    assert pp[3].recorded_at.isoformat() == "2024-03-01T00:30:03.023757+00:00"
    assert lot.supplier_id is None and str(lot.quantity) == "107.125000"


@pytest.mark.postgres
def test_content_hash_is_the_same_on_both_backends(sqlite_url, pg_url, store):
    got = []
    for url in (sqlite_url, pg_url):
        engine = make_engine(url)
        db.upgrade(engine)
        load(url, store)
        got.append({t.name: content_hash(engine, t) for t in MODEL_TABLES})
        engine.dispose()
    assert got[0] == got[1]
    assert len(set(got[0].values())) == len(MODEL_TABLES)  # non-empty tables, distinct content


def test_unchanged_rerun_writes_nothing(target, store):
    load(target, store, chunk_size=700)
    before = hashes(target)
    ledger_rows = scalar(target, "SELECT COUNT(*) FROM migrate_load_ledger")
    checkpoint_at = scalar(target, "SELECT MAX(at) FROM migrate_load_checkpoint")
    result = load(target, store, chunk_size=700)
    assert result.nothing_to_do
    assert all((e.inserted, e.updated, e.deleted) == (0, 0, 0) for e in result.entities)
    assert sum(e.unchanged for e in result.entities) == sum(e.source_rows for e in result.entities)
    assert hashes(target) == before
    assert scalar(target, "SELECT COUNT(*) FROM migrate_load_ledger") == ledger_rows
    assert scalar(target, "SELECT MAX(at) FROM migrate_load_checkpoint") == checkpoint_at


def _delta(rows: list[dict], n: int) -> tuple[list[dict], int, int, int]:
    """1% changed, 0.5% added, 0.2% removed."""
    changed, added, removed = n // 100, n // 200, n // 500
    new = [dict(r) for r in rows]
    for i in range(0, changed * 7, 7):
        new[i]["value"] = "0.000001" if new[i]["value"] != "0.000001" else "0.000002"
    extra = process_parameters(n + added)[n:]
    drop = set(range(n - 1, n - 1 - removed * 11, -11))  # far from the changed rows
    new = [r for i, r in enumerate(new) if i not in drop] + extra
    return new, changed, added, removed


def test_delta_counts_and_hash_equal_a_fresh_load(targets, tmp_path):
    n = 10_000
    rows = process_parameters(n)
    old_store = make_store(tmp_path / "old.db", rows)
    new_rows, changed, added, removed = _delta(rows, n)
    new_store = make_store(tmp_path / "new.db", new_rows)
    url = targets.fresh()
    load(url, old_store, chunk_size=3_000)
    result = load(url, new_store, chunk_size=3_000, delete_missing={PP})
    pp = next(e for e in result.entities if e.entity == PP)
    assert (pp.updated, pp.inserted, pp.deleted) == (changed, added, removed) == (100, 50, 20)
    assert ledger_counts(url, result.run_id) == {"update": 100, "insert": 50, "delete": 20}
    assert sum(e.changed for e in result.entities if e.entity != PP) == 0
    fresh = targets.fresh()
    load(fresh, new_store, chunk_size=3_000)
    assert hashes(url) == hashes(fresh)


def test_before_images_hold_the_old_row(target, tmp_path):
    rows = process_parameters(100)
    load(target, make_store(tmp_path / "a.db", rows))
    rows[5]["value"] = "42.000000"
    result = load(target, make_store(tmp_path / "b.db", rows))
    before = json.loads(
        scalar(target, "SELECT before FROM migrate_load_ledger WHERE run_id = :r", r=result.run_id)
    )
    assert float(before["value"]) == float(process_parameters(100)[5]["value"])
    assert set(before) >= {"id", "work_order_id", "recorded_at", "created_at", "updated_at"}


def test_deletes_spare_rows_the_toolkit_did_not_write(target, tmp_path):
    rows = process_parameters(50)
    load(target, make_store(tmp_path / "a.db", rows))
    wo, eq = scalar(target, "SELECT MIN(id) FROM work_order"), scalar(target, "SELECT MIN(id) FROM equipment")
    engine = make_engine(target)
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from migrate.model import process_parameter

    with engine.begin() as c:  # a row someone else wrote
        c.execute(
            insert(process_parameter).values(
                work_order_id=wo,
                equipment_id=eq,
                parameter="foreign",
                recorded_at=datetime(2020, 1, 1, tzinfo=UTC),
                value=1,
            )
        )
    engine.dispose()
    result = load(target, make_store(tmp_path / "b.db", rows[:40]), delete_missing={PP})
    assert next(e for e in result.entities if e.entity == PP).deleted == 10
    assert scalar(target, "SELECT COUNT(*) FROM process_parameter WHERE parameter = 'foreign'") == 1


def test_changed_input_under_resume_is_refused(targets, tmp_path):
    """T8: crash, edit the source, resume: exit 2 naming both fingerprints; target unchanged."""
    rows = process_parameters(6_000)
    store_path = tmp_path / "store.db"
    store = make_store(store_path, rows)
    url = targets.fresh()
    assert crash(url, store, 2_000, f"after_commit:1:{PP}", entities=tuple(ENTITIES)) == -9
    before = hashes(url)
    old_fp = scalar(url, "SELECT fingerprint FROM migrate_load_checkpoint WHERE entity = :e", e=PP)
    rows[4_500]["value"] = "1.000000"
    con = sqlite3.connect(store_path)
    with con:
        write_table(con, PP, rows)
    con.close()
    with pytest.raises(ConfigError) as info:
        load(url, store, chunk_size=2_000)
    assert info.value.exit_code == 2
    assert old_fp in info.value.message and "map_process_parameter" in info.value.message
    new_fp = info.value.message.split("it is now ")[1].split(".")[0]
    assert len(new_fp) == 64 and new_fp != old_fp
    assert hashes(url) == before
    result = load(url, store, chunk_size=2_000, restart=True)  # the way forward it names
    assert next(e for e in result.entities if e.entity == PP).source_rows == 6_000


def test_hand_edit_of_mapped_rows_is_refused_on_resume_despite_the_recorded_fingerprint(targets, tmp_path):
    """Map records each table's fingerprint and load trusts it; a hand edit after the
    crash (a statement on map_<entity>) forgets it, so the resume reads the table and refuses."""
    store_path = tmp_path / "store.db"
    store = make_store(store_path, process_parameters(6_000))
    engine = make_engine(store)
    for name in ENTITIES:  # as map records them after writing
        table = mapped_table(name)
        record_fingerprint(
            engine, table, *input_fingerprint(engine, table, list(ENTITIES[name].mapped_columns))
        )
    recorded = stored_fingerprint(engine, mapped_table(PP))
    engine.dispose()
    url = targets.fresh()
    assert crash(url, store, 2_000, f"after_commit:1:{PP}", entities=tuple(ENTITIES)) == -9
    assert (
        scalar(url, "SELECT fingerprint FROM migrate_load_checkpoint WHERE entity = :e", e=PP) == recorded[0]
    )
    before = hashes(url)
    con = sqlite3.connect(store_path)
    with con:
        con.execute("UPDATE map_process_parameter SET value = '1.000000' WHERE _row_id = 4500")
    con.close()
    with pytest.raises(ConfigError) as info:
        load(url, store, chunk_size=2_000)
    assert recorded[0] in info.value.message and "map_process_parameter" in info.value.message
    assert hashes(url) == before


def test_unresolvable_reference_is_refused_clearly(target, tmp_path):
    rows = process_parameters(10)
    rows[3]["work_order_no"] = "WO-GHOST"
    with pytest.raises(TargetError) as info:
        load(target, make_store(tmp_path / "s.db", rows))
    assert "WO-GHOST" in info.value.message and "process_parameter.csv" in info.value.message
    assert info.value.exit_code == 2
    assert scalar(target, "SELECT COUNT(*) FROM process_parameter") == 0


def test_replace_swaps_whole_content(target, tmp_path):
    rows = process_parameters(3_000)
    load(target, make_store(tmp_path / "a.db", rows), chunk_size=1_000)
    new_rows = rows[1_000:] + process_parameters(3_500)[3_000:]
    new_rows[0]["value"] = "7.000000"
    result = load(
        target, make_store(tmp_path / "b.db", new_rows), chunk_size=1_000, mode="replace", entities=[PP]
    )
    pp = result.entities[0]
    assert (pp.inserted, pp.updated, pp.deleted, pp.unchanged) == (500, 1, 1_000, 1_999)
    assert scalar(target, "SELECT COUNT(*) FROM process_parameter") == 2_500


def test_replace_failing_in_its_last_chunk_leaves_old_content_whole(targets, tmp_path):
    """T14: killed while staging the last chunk of the new content, and a bad value in it."""
    rows = process_parameters(3_000)
    url = targets.fresh()
    load(url, make_store(tmp_path / "a.db", rows), chunk_size=1_000)
    before = hashes(url)
    new_store = make_store(tmp_path / "b.db", process_parameters(4_000)[1_000:])
    from multiprocessing import get_context

    def child():
        load(
            url,
            new_store,
            chunk_size=1_000,
            mode="replace",
            entities=[PP],
            faults=Faults(f"after_data:2:{PP}", "0", ""),
        )

    process = get_context("fork").Process(target=child)
    process.start()
    process.join(60)
    assert process.exitcode == -9
    assert hashes(url) == before
    bad = process_parameters(4_000)[1_000:]
    bad[-1]["work_order_no"] = "WO-GHOST"
    with pytest.raises(TargetError):
        load(url, make_store(tmp_path / "c.db", bad), chunk_size=1_000, mode="replace", entities=[PP])
    assert hashes(url) == before
    load(url, new_store, chunk_size=1_000, mode="replace", entities=[PP])
    assert scalar(url, "SELECT COUNT(*) FROM process_parameter") == 3_000


def test_missing_mapped_table_names_the_command(target, tmp_path):
    with pytest.raises(ConfigError, match="migrate map"):
        load(target, f"sqlite:///{tmp_path / 'empty.db'}", entities=["material"])


_ = Path


def test_a_row_the_model_refuses_rolls_its_chunk_back_whole(target, tmp_path):
    rows = process_parameters(3_000)
    rows[2_500]["value"] = "not-a-number" if "postgres" in target else rows[2_500]["value"]
    rows[2_600]["work_order_no"] = None  # NOT NULL on both backends
    with pytest.raises(TargetError) as info:
        load(target, make_store(tmp_path / "s.db", rows), chunk_size=1_000)
    assert info.value.exit_code == 2 and "chunk 2 of process_parameter" in info.value.message
    assert "migrate load --restart" in info.value.message
    assert scalar(target, "SELECT COUNT(*) FROM process_parameter") == 2_000


def test_duplicate_natural_keys_in_mapped_rows_are_refused(target, tmp_path):
    rows = process_parameters(1_500)
    rows[1_200] = dict(rows[1_100])  # a new row twice in one chunk
    with pytest.raises(TargetError) as info:
        load(target, make_store(tmp_path / "s.db", rows), chunk_size=1_000)
    message = info.value.message
    assert info.value.exit_code == 2
    assert "1102 and 1202" in message or "already exists" in message or "duplicate key" in message
    assert scalar(target, "SELECT COUNT(*) FROM process_parameter") == 1_000
    rows = process_parameters(1_500)
    load(target, make_store(tmp_path / "t.db", rows), chunk_size=1_000, restart=True)  # as the error says
    rows.insert(11, dict(rows[10], value="5.000000"))  # one existing row twice in a chunk
    with pytest.raises(TargetError, match="same natural key"):
        load(target, make_store(tmp_path / "u.db", rows), chunk_size=1_000)
