"""Content hashes computed by the databases: equal across SQLite and PostgreSQL for the same
content (hostile text included), blind to storage order and ids, sensitive to every value."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, insert, select, update
from sqlalchemy.pool import StaticPool

from migrate import db
from migrate.db import make_engine
from migrate.load import hashing
from migrate.load.hashing import connection_hash, content_hash
from migrate.model import (
    MODEL_TABLES,
    equipment,
    material,
    material_lot,
    metadata,
    process_parameter,
    supplier,
    work_order,
)

# every ASCII control character, JSON's and COPY's escapes, NBSP, a non-BMP character, U+2028
HOSTILE = [
    "".join(chr(c) for c in range(1, 32)),
    'q"uo\\te',
    "back\\slash\\n",
    "nb\u00a0sp",
    "🏭 工厂",
    "\u2028",
    "",
    " ",
]
EIGHT = timezone(timedelta(hours=8))


def _rows() -> dict:
    suppliers = [
        {
            "supplier_code": f"S{i}",
            "name": name,
            "country": None if i % 3 == 0 else name[:2],
            "qualification_status": "approved",
        }
        for i, name in enumerate(HOSTILE)
    ]
    lots = [
        {
            "lot_no": "L1",
            "material_id": 1,
            "supplier_id": "S1",
            "quantity": Decimal("0"),
            "uom": "kg",
            "manufactured_on": date(2024, 2, 29),
            "status": "released",
        },
        {
            "lot_no": "L2",
            "material_id": 1,
            "supplier_id": None,
            "quantity": Decimal("123456789012.123456"),
            "uom": "kg",
            "manufactured_on": None,
            "status": "quarantine",
        },
    ]
    params = [
        {
            "work_order_id": 1,
            "equipment_id": 1,
            "parameter": "p",
            "recorded_at": at,
            "value": Decimal(v),
            "uom": None,
            "lower_limit": None,
            "upper_limit": Decimal("-1.5"),
            "in_spec": ok,
        }
        for at, v, ok in [
            (datetime(2024, 3, 1, 8, 0, tzinfo=EIGHT), "1", True),  # 00:00 UTC, no microseconds
            (datetime(2024, 3, 1, 0, 0, 1, 7, tzinfo=UTC), "-0.000001", False),
            (datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "0.5", None),
        ]
    ]
    return {"supplier": suppliers, "material_lot": lots, "process_parameter": params}


def _fill(url: str, reverse: bool = False) -> dict[str, str]:
    engine = make_engine(url)
    db.upgrade(engine)
    rows = _rows()
    with engine.begin() as c:
        c.execute(
            insert(material), [{"material_code": "M1", "name": "m", "material_type": "raw", "base_uom": "kg"}]
        )
        c.execute(
            insert(work_order),
            [{"work_order_no": "W1", "material_id": 1, "planned_qty": 1, "uom": "kg", "status": "planned"}],
        )
        c.execute(insert(equipment), [{"equipment_code": "E1", "name": "e"}])
        for table in (supplier, material_lot, process_parameter):
            batch = rows[table.name][::-1] if reverse else rows[table.name]
            for row in batch:  # one by one: the ids follow the order
                if row.get("supplier_id"):  # a reference by natural key
                    code = row["supplier_id"]
                    row = {
                        **row,
                        "supplier_id": c.execute(
                            select(supplier.c.id).where(supplier.c.supplier_code == code)
                        ).scalar_one(),
                    }
                c.execute(insert(table), [row])
    hashes = {t.name: content_hash(engine, t) for t in MODEL_TABLES}
    engine.dispose()
    return hashes


ONE_CONNECTION, TWO_PROCESSES = 10**12, 2  # hashing.SHARED_FROM_ROWS for each SQLite path


@pytest.mark.postgres
@pytest.mark.parametrize(
    "shared_from", [ONE_CONNECTION, TWO_PROCESSES], ids=["one_connection", "two_processes"]
)
def test_hashes_are_equal_across_backends_for_hostile_values(sqlite_url, pg_url, monkeypatch, shared_from):
    monkeypatch.setattr(hashing, "SHARED_FROM_ROWS", shared_from)
    on_sqlite, on_postgresql = _fill(sqlite_url), _fill(pg_url)
    assert on_sqlite == on_postgresql
    assert len(set(on_sqlite.values())) == 7  # six filled tables differ from each other and from empty ones


@pytest.mark.postgres
@pytest.mark.parametrize("isolation", ["READ COMMITTED", "AUTOCOMMIT"])
def test_postgresql_hash_ignores_the_sessions_datestyle(pg_url, isolation):
    """Dates and timestamps are rendered as text by PostgreSQL: a session that reads them in
    another style hashes the same, in a transaction or not, and keeps its style afterwards."""
    reference = _fill(pg_url)
    engine = make_engine(pg_url)
    with engine.connect().execution_options(isolation_level=isolation) as c:
        c.exec_driver_sql("SET DateStyle = 'SQL, DMY'")
        got = {t: connection_hash(c, t) for t in ("process_parameter", "material_lot")}
        assert c.exec_driver_sql("SHOW DateStyle").scalar_one() == "SQL, DMY"
    engine.dispose()
    assert got == {t: reference[t] for t in got}


def test_hash_ignores_storage_order_and_ids(targets):
    assert _fill(targets.fresh()) == _fill(targets.fresh(), reverse=True)


@pytest.mark.parametrize(
    "table, key, values",
    [
        (supplier, "S3", {"country": ""}),  # NULL -> ''
        (supplier, "S1", {"name": 'q"uo\\\\te'}),  # one more backslash
        (supplier, "S3", {"name": "nb sp"}),  # NBSP -> space
        (supplier, "S7", {"name": ""}),  # ' ' -> ''
        (material_lot, "L1", {"quantity": Decimal("0.000001")}),
        (process_parameter, "-0.000001", {"recorded_at": datetime(2024, 3, 1, 0, 0, 1, 8, tzinfo=UTC)}),
        (process_parameter, "0.5", {"in_spec": False}),  # NULL -> false
    ],
)
def test_hash_sees_every_change(target_url, table, key, values):
    before = _fill(target_url)
    engine = make_engine(target_url)
    where = {
        "supplier": lambda: supplier.c.supplier_code == key,
        "material_lot": lambda: material_lot.c.lot_no == key,
        "process_parameter": lambda: process_parameter.c.value == Decimal(key),
    }[table.name]()
    with engine.begin() as c:
        assert c.execute(update(table).where(where).values(values)).rowcount == 1
    after = content_hash(engine, table)
    engine.dispose()
    assert after != before[table.name]


def _more_parameters(url: str, count: int = 3_000) -> None:
    """`count` more process parameters of W1 on E1 (so the share key needs a third field):
    hostile names, NULLs, decimals of every sign and scale, timestamps with microseconds."""
    base = datetime(2024, 3, 1, tzinfo=UTC)
    rows = [
        {
            "work_order_id": 1,
            "equipment_id": 1,
            "parameter": f"{HOSTILE[i % len(HOSTILE)]}{i % 97}",
            "recorded_at": base + timedelta(seconds=i, microseconds=i),
            "value": Decimal(i - count // 2).scaleb(-(i % 7)),
            "uom": None if i % 3 else "°C",
            "lower_limit": None if i % 5 else Decimal("-0.000001"),
            "upper_limit": Decimal(i),
            "in_spec": (True, False, None)[i % 3],
        }
        for i in range(count)
    ]
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(insert(process_parameter), rows)
    engine.dispose()


def _hashes(url: str, shared_from: int, monkeypatch) -> dict[str, str]:
    monkeypatch.setattr(hashing, "SHARED_FROM_ROWS", shared_from)
    engine = make_engine(url)
    hashes = {t.name: content_hash(engine, t) for t in MODEL_TABLES}
    engine.dispose()
    return hashes


def test_two_processes_hash_as_one_connection_does(sqlite_url, monkeypatch):
    """The caller's share and the share process's, digested one after the other, hash what one
    connection hashes: hostile text, NULLs, decimals, timestamps; both shares hold rows."""
    _fill(sqlite_url)
    _more_parameters(sqlite_url)
    assert _hashes(sqlite_url, TWO_PROCESSES, monkeypatch) == _hashes(sqlite_url, ONE_CONNECTION, monkeypatch)
    engine = make_engine(sqlite_url)
    with engine.connect() as c:
        driver = c.connection.driver_connection
        monkeypatch.setattr(hashing, "SHARED_FROM_ROWS", TWO_PROCESSES)
        for table in (supplier, material_lot, process_parameter):
            key, split = hashing.share_plan(driver, table)
            source = hashing._fields(table)[1]
            below, total = driver.execute(
                f"SELECT sum({key} < ?), count(*) FROM {source}", (split,)
            ).fetchone()
            assert 0 < below < total, table.name
    engine.dispose()


def test_uncommitted_rows_are_hashed_by_the_callers_connection(sqlite_url, monkeypatch):
    """A rollback rehearsal hashes its replayed state before rolling it back: only its own
    connection sees it, so a large table is not shared with a process that cannot."""
    committed = _fill(sqlite_url)["supplier"]
    monkeypatch.setattr(hashing, "SHARED_FROM_ROWS", TWO_PROCESSES)
    engine = make_engine(sqlite_url)
    replay = update(supplier).where(supplier.c.supplier_code == "S1").values(name="replayed")
    with engine.connect() as c:
        c.execute(replay)
        rehearsed = connection_hash(c, supplier)
        c.rollback()
    with engine.begin() as c:
        c.execute(replay)
    engine.dispose()
    assert rehearsed == _hashes(sqlite_url, ONE_CONNECTION, monkeypatch)["supplier"] != committed


def test_a_callers_read_transaction_is_hashed_at_its_own_snapshot(sqlite_url, monkeypatch):
    """A connection already reading in a transaction hashes what it sees, not what was
    committed since (WAL: a writer commits beside a reader)."""
    before = _fill(sqlite_url)["supplier"]
    monkeypatch.setattr(hashing, "SHARED_FROM_ROWS", TWO_PROCESSES)
    engine = make_engine(sqlite_url)
    with engine.connect() as c:
        driver = c.connection.driver_connection
        driver.execute("BEGIN")
        driver.execute("SELECT count(*) FROM supplier").fetchall()
        with engine.begin() as writer:
            writer.execute(update(supplier).where(supplier.c.supplier_code == "S1").values(name="later"))
        assert connection_hash(c, supplier) == before
        driver.execute("COMMIT")
        assert connection_hash(c, supplier) != before
    engine.dispose()


@pytest.mark.parametrize(
    "values", [[1, 12, 1.5, -1, 10, 2, None], ["a", "a,", 'a"', "a\\", "ab", "1", None, 1]]
)
def test_the_share_key_orders_rows_as_their_lines_do(values):
    """Whatever the first values (numbers that are prefixes of others, quotes, escapes), a row
    whose key sorts lower has a lower line: the two shares never interleave."""
    connection = sqlite3.connect(":memory:")
    key, line = hashing.share_key(["?"]), "json_array(?, 'rest')"
    rows = [connection.execute(f"SELECT {key}, {line}", (v, v)).fetchone() for v in values]
    for key_a, line_a in rows:
        for key_b, line_b in rows:
            assert key_a >= key_b or line_a < line_b, (key_a, key_b)


@pytest.mark.parametrize("point", ["start", "begun", "rows", "done"])
def test_a_killed_share_process_leaves_the_hash_to_one_connection(sqlite_url, monkeypatch, point):
    """SIGKILL of the share process at any point: the caller's connection hashes the table
    alone, promptly and exactly; nothing waits on the dead process."""
    _fill(sqlite_url)
    _more_parameters(sqlite_url, 500)
    expected = _hashes(sqlite_url, ONE_CONNECTION, monkeypatch)
    monkeypatch.setenv("MIGRATE_HASH_SHARE_FAULT", point)
    assert _hashes(sqlite_url, TWO_PROCESSES, monkeypatch) == expected


def test_a_table_with_wide_rowid_gaps_is_hashed(sqlite_url, monkeypatch):
    """Rows deleted by the million leave a rowid span the sample mostly misses: the hash is
    still the one connection's."""
    _fill(sqlite_url)
    engine = make_engine(sqlite_url)
    with engine.begin() as c:
        c.execute(
            insert(supplier),
            [{"id": 10**7, "supplier_code": "far", "name": "f", "qualification_status": "approved"}],
        )
    engine.dispose()
    assert _hashes(sqlite_url, TWO_PROCESSES, monkeypatch) == _hashes(sqlite_url, ONE_CONNECTION, monkeypatch)


def test_an_in_memory_database_is_hashed_by_one_connection(monkeypatch):
    """No other process can open it: no share plan, and the hash is the one connection's."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    metadata.create_all(engine, tables=[supplier])
    with engine.begin() as c:
        c.execute(insert(supplier), _rows()["supplier"])
    hashes = []
    for shared_from in (TWO_PROCESSES, ONE_CONNECTION):
        monkeypatch.setattr(hashing, "SHARED_FROM_ROWS", shared_from)
        with engine.connect() as c:
            assert hashing.share_plan(c.connection.driver_connection, supplier) is None
            hashes.append(connection_hash(c, supplier))
    assert hashes[0] == hashes[1]


def test_a_writer_holding_the_database_leaves_the_hash_to_one_connection(sqlite_url, monkeypatch):
    """Both readers must start from one committed state, so writers wait while they begin; a
    writer already holding the database past a short wait leaves the hash to one connection."""
    expected = _fill(sqlite_url)["supplier"]
    monkeypatch.setattr(hashing, "SHARED_FROM_ROWS", TWO_PROCESSES)
    writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE supplier SET name = 'uncommitted' WHERE supplier_code = 'S1'")
    engine = make_engine(sqlite_url)
    try:
        assert content_hash(engine, supplier) == expected
    finally:
        writer.close()
        engine.dispose()
    with hashing._writers_held(sqlite_url.removeprefix("sqlite:///")):  # and they wait
        writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            writer.execute("BEGIN IMMEDIATE")
        writer.close()
