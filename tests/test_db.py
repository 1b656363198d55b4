"""The unified model's schema through alembic, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import insert, select

from migrate import db
from migrate.model import LOAD_ORDER, MODEL_TABLES, material, metadata, supplier

TWELVE = {t.name for t in MODEL_TABLES}


def test_upgrade_downgrade_upgrade(target_url):
    engine = db.make_engine(target_url)
    assert db.current(engine) is None
    assert db.upgrade(engine) == db.head()
    assert TWELVE <= set(db.table_names(engine))
    assert db.downgrade(engine, "base") is None
    assert not TWELVE & set(db.table_names(engine))
    db.upgrade(engine)
    assert TWELVE <= set(db.table_names(engine))
    engine.dispose()


def test_migrations_match_the_model(target_url):
    """The alembic history creates exactly what the model declares (no drift)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = db.make_engine(target_url)
    db.upgrade(engine)
    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c, opts={"compare_type": False}), metadata)
    assert diff == []
    engine.dispose()


def test_quantities_are_exact_on_both_backends(target_url):
    engine = db.make_engine(target_url)
    db.upgrade(engine)
    with engine.begin() as c:
        c.execute(insert(material).values(material_code="M1", name="x", material_type="raw", base_uom="kg"))
        c.execute(insert(supplier).values(supplier_code="S1", name="s", qualification_status="approved"))
        from migrate.model import material_lot

        mid = c.execute(select(material.c.id)).scalar_one()
        c.execute(
            insert(material_lot).values(
                lot_no="L1", material_id=mid, quantity=Decimal("12345678.123456"), uom="kg", status="released"
            )
        )
        got = c.execute(select(material_lot.c.quantity)).scalar_one()
    assert got == Decimal("12345678.123456") and str(got) == "12345678.123456"
    engine.dispose()


def test_check_constraints_refuse_unknown_codes(target_url):
    import pytest
    from sqlalchemy.exc import IntegrityError

    engine = db.make_engine(target_url)
    db.upgrade(engine)
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(insert(supplier).values(supplier_code="S1", name="s", qualification_status="maybe"))
    engine.dispose()


def test_load_order_is_topological():
    from migrate.model import ENTITIES

    seen: set[str] = set()
    for name in LOAD_ORDER:
        assert set(ENTITIES[name].depends_on) <= seen, name
        seen.add(name)
    assert seen == TWELVE
