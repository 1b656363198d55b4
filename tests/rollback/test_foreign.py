"""T15: rows in a load's id range the load did not write as they are now survive a rollback.

A row the toolkit loaded is deleted by hand and foreign rows are inserted (one letting the
database choose its id, one with the deleted row's id given explicitly); a row the toolkit
loaded is edited by hand. Readiness names the foreign row and the edit (table, id, natural
key), the run keeps and reports them, and everything else the load wrote is undone."""

from __future__ import annotations

from sqlalchemy import text

from migrate import db
from migrate.db import make_engine
from migrate.load import load
from migrate.rollback import readiness, rollback
from migrate.urls import parse_url
from tests.rollback.conftest import PHASE1, scalar


def _sql(url: str, *statements: str) -> None:
    engine = make_engine(url)
    with engine.begin() as c:
        for statement in statements:
            c.execute(text(statement))
    engine.dispose()


def test_foreign_rows_and_hand_edits_in_a_loads_id_range_survive(targets, stores):
    url = targets.fresh()
    load(url, stores.first, PHASE1, chunk_size=7)
    newest = scalar(url, "SELECT MAX(id) FROM customer")
    edited = scalar(url, "SELECT id FROM equipment WHERE equipment_code = 'E01'")
    _sql(
        url,
        f"DELETE FROM customer WHERE id = {newest}",
        "INSERT INTO customer (customer_code, name) VALUES ('FOREIGN-A', '外来 A')",
        f"INSERT INTO customer (id, customer_code, name) VALUES ({newest}, 'FOREIGN-B', '外来 B')",
        "UPDATE equipment SET name = 'edited by hand' WHERE equipment_code = 'E01'",
    )
    # ids are unique for the life of the target: the database gave FOREIGN-A a new one
    assert scalar(url, "SELECT id FROM customer WHERE customer_code = 'FOREIGN-A'") > newest

    report = readiness(parse_url(url), "start", operator="test")
    assert not report.ready
    problems = "\n".join(report.problems)
    assert f"customer id {newest} (customer_code=FOREIGN-B) is not written by the toolkit" in problems
    assert f"equipment id {edited} (equipment_code=E01) is edited by hand" in problems

    result = rollback(parse_url(url), "start", operator="test", chunk_size=3)
    assert not result.exact and set(result.differs) == {"customer", "equipment"}
    assert {(k.table, k.id, k.foreign) for k in result.kept} == {
        ("customer", newest, True),
        ("equipment", edited, False),
    }
    assert {k.natural_key["customer_code"] for k in result.kept if k.table == "customer"} == {"FOREIGN-B"}
    codes = scalar(url, "SELECT COUNT(*) FROM customer WHERE customer_code LIKE 'FOREIGN-%'")
    assert codes == 2  # both foreign rows survive
    assert scalar(url, "SELECT name FROM equipment") == "edited by hand"  # the only equipment row left
    assert scalar(url, "SELECT COUNT(*) FROM material") == 0  # what the load wrote is undone
    assert scalar(url, "SELECT COUNT(*) FROM migrate_load_written_range") == 0


def test_records_written_before_0009_are_still_honoured(targets, stores):
    """A target whose load recorded one row per row (alembic 0008; made here by the downgrade,
    which expands each range record into rows), upgraded again: the undo reads those records
    too. Fails if it reads only the range records (the edited row is deleted) or if the
    downgrade loses records."""
    url = targets.fresh()
    load(url, stores.first, PHASE1, chunk_size=7)
    inserted = scalar(url, "SELECT SUM(id_hi - id_lo + 1) FROM migrate_load_ledger WHERE op = 'insert'")
    engine = make_engine(url)
    db.downgrade(engine, "0008")
    assert scalar(url, "SELECT COUNT(*) FROM migrate_load_written") == inserted
    db.upgrade(engine)
    engine.dispose()
    assert scalar(url, "SELECT COUNT(*) FROM migrate_load_written_range") == 0
    _sql(url, "UPDATE equipment SET name = 'edited by hand' WHERE equipment_code = 'E01'")

    result = rollback(parse_url(url), "start", operator="test", chunk_size=3)
    assert [(k.table, k.foreign) for k in result.kept] == [("equipment", False)]
    assert scalar(url, "SELECT name FROM equipment") == "edited by hand"
    assert scalar(url, "SELECT COUNT(*) FROM material") == 0
    assert scalar(url, "SELECT COUNT(*) FROM migrate_load_written") == 0
