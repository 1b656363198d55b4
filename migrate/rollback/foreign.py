"""Rows in a load's inserted id range that the load did not write as they are now.

The undo of an insert deletes a row only when its content digest is still the one the load
recorded (`migrate.load.written`). Any other row in the range is kept and named: a foreign
row (another natural key: someone inserted it with an id the load had used) or a row the
load wrote and someone edited since (same natural key, other content). Rows loaded before
digests were recorded (targets upgraded from 0004) are matched by id, as then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from migrate.load.connection import TargetConnection
from migrate.load.sql import q
from migrate.load.written import clear_records, copy_records, digests
from migrate.model import ENTITIES

LIMIT = 100  # rows named per undone group; more are counted, not listed


@dataclass(frozen=True)
class KeptRow:
    """A row the undo of an insert keeps because the load did not write it as it is now."""

    table: str
    id: int
    natural_key: dict[str, object]
    foreign: bool  # another natural key than the load wrote (else: edited by hand)

    def describe(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.natural_key.items())
        why = (
            "not written by the toolkit (it has an id a load had used)"
            if self.foreign
            else "edited by hand since the load wrote it"
        )
        return f"{self.table} id {self.id} ({key}) is {why}: kept"

    def to_dict(self) -> dict:
        return {
            "table": self.table,
            "id": self.id,
            "natural_key": {k: str(v) for k, v in self.natural_key.items()},
            "foreign": self.foreign,
        }


def natural_key_sql(entity: str, alias: str = "c") -> tuple[list[str], str]:
    """(select expressions, joins) naming a row of `entity` (as `alias`) by its natural key."""
    spec = ENTITIES[entity]
    by_column = {r.column: r for r in spec.references}
    exprs, joins = [], []
    for i, key in enumerate(spec.natural_key):
        ref = by_column.get(key)
        if ref is None:
            exprs.append(f"{alias}.{q(key)}")
            continue
        parent = ENTITIES[ref.entity]
        joins.append(f"LEFT JOIN {q(parent.table.name)} nk{i} ON nk{i}.id = {alias}.{q(ref.fk_column)}")
        exprs.append(f"nk{i}.{q(parent.key_column)}")
    return exprs, " ".join(joins)


def _fill_written(conn: TargetConnection, entity: str, lo: int, hi: int) -> None:
    """The load's records of the rows in [lo, hi], in the temporary table `_written`."""
    schema, tail = ("temp", "") if conn.dialect == "sqlite" else ("pg_temp", " ON COMMIT DROP")
    conn.execute(f"DROP TABLE IF EXISTS {schema}._written")
    conn.execute(f"CREATE TEMP TABLE _written (id BIGINT, natural_key TEXT, row_digest TEXT){tail}")
    copy_records(conn, entity, lo, hi, "_written")
    conn.execute(f"CREATE INDEX {'temp.' if conn.dialect == 'sqlite' else ''}_written_id ON _written (id)")


def _kept(conn: TargetConnection, entity: str, lo: int, hi: int) -> list[KeptRow]:
    spec = ENTITIES[entity]
    key, row = digests(entity, conn.dialect, "c")
    exprs, joins = natural_key_sql(entity)
    rows = conn.execute(
        f"SELECT c.id, w.natural_key <> {key}, {', '.join(exprs)} FROM {q(spec.table.name)} c "
        f"JOIN _written w ON w.id = c.id {joins} "
        f"WHERE c.id BETWEEN ? AND ? AND w.row_digest <> {row} ORDER BY c.id LIMIT {LIMIT}",
        (lo, hi),
    ).fetchall()
    return [
        KeptRow(spec.table.name, r[0], dict(zip(spec.natural_key, r[2:], strict=True)), bool(r[1]))
        for r in rows
    ]


def undo_inserts(conn: TargetConnection, entity: str, ranges: Sequence[tuple[int, int]]) -> list[KeptRow]:
    """Delete the rows of `ranges` that are still as the load wrote them; name the others."""
    table = q(ENTITIES[entity].table.name)
    _, row = digests(entity, conn.dialect, table)
    kept = []
    for lo, hi in ranges:
        _fill_written(conn, entity, lo, hi)
        kept += _kept(conn, entity, lo, hi)
        conn.execute(
            f"DELETE FROM {table} WHERE id BETWEEN ? AND ? AND NOT EXISTS (SELECT 1 FROM _written w "
            f"WHERE w.id = {table}.id AND w.row_digest <> {row})",
            (lo, hi),
        )
    clear_records(conn, entity, ranges)
    return kept
