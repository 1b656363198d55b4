"""Test data in the contract's shape: mapped rows in a work store, the same rows loaded into a target.

Rows are written as map writes them (canonical text, references by natural key); the target
copy goes through the model's own types (Decimal, aware datetimes) so each backend stores
them its own way, as a real load would.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy import Engine, insert, select

from migrate.db import upgrade
from migrate.model import ENTITIES
from migrate.reconcile.sides import column_kind
from migrate.store import LINEAGE, mapped_table


def write_mapped(store: Engine, entity: str, rows: list[dict], source: str = "legacy") -> None:
    """map_<entity> as map writes it: _row_id, lineage, mapped columns as canonical text."""
    columns = ENTITIES[entity].mapped_columns
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=list(columns), dtype=object)
    lineage = pd.DataFrame(
        {"_source": source, "_file": f"{entity}.xlsx", "_sheet": "Sheet1", "_row": range(2, len(rows) + 2)}
    )
    frame = pd.concat([lineage[list(LINEAGE)], frame], axis=1)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="_row_id")
    frame.to_sql(mapped_table(entity), store, if_exists="replace", index=True)


def typed_value(entity: str, column: str, value):
    if value is None:
        return None
    kind = column_kind(entity, column)
    if kind == "decimal":
        return Decimal(value)
    if kind == "timestamp":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return value == "true"
    return value


def load_target(target: Engine, entity: str, rows: list[dict]) -> None:
    """Insert mapped rows into the target, resolving natural-key references to ids."""
    ent = ENTITIES[entity]
    with target.begin() as c:
        ids = {}
        for ref in ent.references:
            other = ENTITIES[ref.entity]
            ids[ref.column] = dict(c.execute(select(other.table.c[other.key_column], other.table.c.id)).all())
        out = []
        for row in rows:
            record = {}
            for column in ent.mapped_columns:
                ref = next((r for r in ent.references if r.column == column), None)
                value = row.get(column)
                if ref is not None:
                    record[ref.fk_column] = None if value is None else ids[column][value]
                else:
                    record[column] = typed_value(entity, column, value)
            out.append(record)
        if out:
            c.execute(insert(ent.table), out)


def fresh_target(url: str) -> Engine:
    from migrate.db import make_engine

    engine = make_engine(url)
    upgrade(engine)
    return engine


def assert_same_counts(ours, full) -> None:
    """Two reconcile results count the same rows in every class."""
    for field in (
        "expected_rows",
        "actual_rows",
        "matched_rows",
        "missing",
        "only_in_target",
        "unequal_rows",
    ):
        assert getattr(ours, field) == getattr(full, field), field
