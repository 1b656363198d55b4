"""Content hashes computed by the databases: equal across SQLite and PostgreSQL for the same
content (hostile text included), blind to storage order and ids, sensitive to every value."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, update

from migrate import db
from migrate.db import make_engine
from migrate.load.hashing import connection_hash, content_hash
from migrate.model import (
    MODEL_TABLES,
    equipment,
    material,
    material_lot,
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


@pytest.mark.postgres
def test_hashes_are_equal_across_backends_for_hostile_values(sqlite_url, pg_url):
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
