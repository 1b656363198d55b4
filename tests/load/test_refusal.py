"""When the target refuses a chunk, the message names the row (lineage), the column, the value
and the constraint in words, on SQLite and PostgreSQL; nothing of the chunk stays."""

from __future__ import annotations

import pytest

from migrate.errors import TargetError
from migrate.load import load
from tests.load.conftest import scalar
from tests.load.mapped import make_store, parents


@pytest.mark.parametrize(
    ("entity", "column", "value", "words"),
    [
        (
            "supplier",
            "qualification_status",
            "pending",
            "is not allowed; allowed: approved, conditional, blocked",
        ),
        ("customer", "name", None, "is empty, and the column is NOT NULL"),
        (
            "material",
            "shelf_life_days",
            "-3",
            "breaks the rule shelf_life_days IS NULL OR shelf_life_days >= 0",
        ),
    ],
)
def test_refused_chunk_names_row_column_value_and_constraint(target, tmp_path, entity, column, value, words):
    rows = parents()
    rows[entity][2][column] = value  # what map would have rejected, written straight to the work store
    store = make_store(tmp_path / "s.db", 0, rows)
    with pytest.raises(TargetError) as info:
        load(target, store, [entity])
    message = info.value.message
    shown = "empty" if value is None else repr(value)
    assert f"{entity}.csv, row 4 (mapped row 3): {column} {shown} {words}" in message, message
    assert info.value.column == column
    assert scalar(target, f"SELECT COUNT(*) FROM {entity}") == 0


@pytest.mark.postgres
def test_too_long_text_named_on_postgresql(pg_url, tmp_path):
    """SQLite stores text of any length; PostgreSQL's varchar(n) refuses it (map rejects it first)."""
    from migrate import db

    engine = db.make_engine(pg_url)
    db.upgrade(engine)
    engine.dispose()
    rows = parents()
    rows["material"][3]["base_uom"] = "kilogram-bag"
    with pytest.raises(TargetError) as info:
        load(pg_url, make_store(tmp_path / "s.db", 0, rows), ["material"])
    expected = "material.csv, row 5 (mapped row 4): base_uom 'kilogram-bag' is longer than the column's 10 characters"
    assert expected in info.value.message
