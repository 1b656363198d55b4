"""Why the target refused a chunk, in words: the row (its lineage), the column, the value and
the constraint.

Load writes a chunk with set-based SQL, so the database's error names a constraint, not a
row (and on PostgreSQL the failed transaction can no longer be asked). Once the chunk has
rolled back, its mapped rows are read again from the work store and the model's constraints
are checked on them in order: NOT NULL columns, enumerations, text lengths, then the other
CHECK constraints (evaluated by SQLite on the chunk, numbers compared as numbers). The first
row that breaks one is the one named. Only on the failure path; a chunk that loads pays nothing.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Integer, Numeric, String, text

from migrate.mapping.constraints import allowed_values
from migrate.mapping.spec import required_columns
from migrate.model import ENTITIES, ExactDecimal
from migrate.store import LINEAGE, WorkStore, mapped_table

if TYPE_CHECKING:  # pandas only when a refused row is looked for, not for every command importing load
    import pandas as pd

SHOWN = 60  # characters of a value shown in a message


@dataclass(frozen=True)
class RefusedRow:
    row_id: int
    column: str
    value: object
    constraint: str  # in words
    lineage: dict

    def sentence(self) -> str:
        where = ", ".join(
            part
            for part in (
                str(self.lineage.get("_file") or self.lineage.get("_source") or ""),
                f"sheet {self.lineage['_sheet']}" if self.lineage.get("_sheet") else "",
                f"row {self.lineage['_row']}" if self.lineage.get("_row") is not None else "",
            )
            if part
        )
        return f"{where} (mapped row {self.row_id}): {self.column} {excerpt(self.value)} {self.constraint}"


def excerpt(value: object) -> str:
    shown = "empty" if value is None or (isinstance(value, float) and value != value) else repr(value)
    return shown if len(shown) <= SHOWN else shown[: SHOWN - 1] + "…"


def find_refused_row(store: WorkStore, entity: str, after_row_id: int, limit: int) -> RefusedRow | None:
    """The first row of the chunk (mapped rows after `after_row_id`) that breaks a model constraint."""
    rows = _chunk(store, entity, after_row_id, limit)
    if rows.empty:
        return None
    for check in (_not_null, _enumerations, _lengths, _checks):
        found = check(entity, rows)
        if found is not None:
            index, column, words = found
            row = rows.loc[index]
            return RefusedRow(
                int(row["_row_id"]), column, row.get(column), words, {k: row[k] for k in LINEAGE}
            )
    return None


def _chunk(store: WorkStore, entity: str, after_row_id: int, limit: int) -> pd.DataFrame:
    import pandas as pd

    name = mapped_table(entity)
    if not store.has_table(name):
        return pd.DataFrame()
    query = text(f'SELECT * FROM "{name}" WHERE "_row_id" > :after ORDER BY "_row_id" LIMIT :n')
    with store.engine.connect() as conn:
        return pd.read_sql_query(query, conn, params={"after": after_row_id, "n": limit})


def _first(mask: pd.Series):
    hits = mask[mask.fillna(False).astype(bool)]
    return None if hits.empty else hits.index[0]


def _not_null(entity: str, rows: pd.DataFrame):
    for column in required_columns(entity):
        if column in rows and (index := _first(rows[column].isna())) is not None:
            return index, column, "is empty, and the column is NOT NULL"
    return None


def _enumerations(entity: str, rows: pd.DataFrame):
    for column, allowed in allowed_values(entity).items():
        values = rows.get(column)
        if values is not None and (index := _first(values.notna() & ~values.isin(allowed))) is not None:
            return index, column, f"is not allowed; allowed: {', '.join(allowed)}"
    return None


def _lengths(entity: str, rows: pd.DataFrame):
    for column in ENTITIES[entity].table.columns:
        length = getattr(column.type, "length", None) if isinstance(column.type, String) else None
        if length and column.name in rows:
            index = _first(rows[column.name].astype("string").str.len() > length)
            if index is not None:
                return index, column.name, f"is longer than the column's {length} characters"
    return None


def _checks(entity: str, rows: pd.DataFrame):
    """The table's other CHECK constraints, run by an in-memory SQLite on the chunk's rows."""
    table = ENTITIES[entity].table
    checks = [c for c in table.constraints if isinstance(c, CheckConstraint) and not c.info.get("allowed")]
    if not checks:
        return None
    columns = [c for c in table.columns if c.name in rows]
    db = sqlite3.connect(":memory:")
    try:
        affinity = {c.name: _affinity(c.type) for c in columns}
        db.execute(
            "CREATE TABLE t (_i INTEGER, " + ", ".join(f'"{n}" {a}' for n, a in affinity.items()) + ")"
        )
        data = rows[[c.name for c in columns]].astype(object).where(rows.notna(), None)
        db.executemany(
            f"INSERT INTO t VALUES (?{', ?' * len(columns)})",
            [
                (i, *values)
                for i, values in zip(rows.index, data.itertuples(index=False, name=None), strict=True)
            ],
        )
        for check in checks:
            try:
                hit = db.execute(f"SELECT _i FROM t WHERE NOT ({check.sqltext}) LIMIT 1").fetchone()
            except sqlite3.Error:  # refers to ids the mapped rows do not have (resolved by load)
                continue
            if hit is not None:
                column = next((c.name for c in columns if c.name in str(check.sqltext)), "row")
                return hit[0], column, f"breaks the rule {check.sqltext} ({check.name})"
    finally:
        db.close()
    return None


def _affinity(kind) -> str:
    if isinstance(kind, ExactDecimal | Numeric):
        return "REAL"  # only to find the failing row; the stored value stays exact
    if isinstance(kind, Integer):
        return "INTEGER"
    return "TEXT"
