"""The inverse of ledger entries, as set-based SQL on SQLite and PostgreSQL.

Entries are undone newest first. Consecutive entries of one entity and one operation form
a group undone by one statement: `insert` deletes the inserted id ranges, `update` writes
the before-images back (the oldest image of a row in the group wins: it is the state
before the whole group), `delete` re-inserts the rows with their ids. An insert's undo
deletes only the rows still as the load wrote them (`foreign`): others are kept and named. Because the inverse
walks history backwards, every state it passes through is one the target once held, so
foreign keys hold at each statement.

Before-images are read by the database itself: SQLite's `json_extract` gives back the
stored values unchanged (text decimals and timestamps, integer booleans); PostgreSQL's
`json_populate_record` casts the JSON to the table's own row type (exact NUMERIC digits,
ISO timestamps with their offset).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from migrate.load.connection import TargetConnection
from migrate.load.sql import q
from migrate.model import ENTITIES
from migrate.rollback.foreign import KeptRow, undo_inserts

# Test-only switch proving the rollback tests can fail (RELIABILITY "seeded bugs"):
# an update undone as a DELETE, as Liquibase does, losing the old values.
SEEDED_BUG = "rollback_update_as_delete"


@dataclass(frozen=True)
class Entry:
    seq: int
    entity: str
    op: str
    id_lo: int
    id_hi: int

    @property
    def rows(self) -> int:
        return self.id_hi - self.id_lo + 1


@dataclass(frozen=True)
class Group:
    """Consecutive ledger entries of one entity and operation (seq_lo..seq_hi)."""

    entity: str
    op: str
    seq_lo: int
    seq_hi: int
    entries: tuple[Entry, ...]

    @property
    def rows(self) -> int:
        return sum(e.rows for e in self.entries)


def groups(newest_first: Iterable[Entry]) -> list[Group]:
    out: list[Group] = []
    for e in newest_first:
        last = out[-1] if out else None
        if last and (last.entity, last.op) == (e.entity, e.op):
            out[-1] = Group(e.entity, e.op, e.seq, last.seq_hi, (*last.entries, e))
        else:
            out.append(Group(e.entity, e.op, e.seq, e.seq, (e,)))
    return out


def _columns(entity: str) -> list[str]:
    return [c.name for c in ENTITIES[entity].table.columns]


def _images(group: Group, oldest_per_row: bool) -> str:
    """The group's ledger rows (id, before) as a subquery (numbers only: no text from outside)."""
    where = f"l.seq BETWEEN {group.seq_lo} AND {group.seq_hi} AND l.op = '{group.op}'"
    if oldest_per_row:
        where += (
            f" AND l.seq IN (SELECT MIN(m.seq) FROM migrate_load_ledger m WHERE m.seq BETWEEN "
            f"{group.seq_lo} AND {group.seq_hi} AND m.op = '{group.op}' GROUP BY m.id_lo)"
        )
    return f"SELECT l.id_lo AS id, l.before AS before FROM migrate_load_ledger l WHERE {where}"


def _values(conn: TargetConnection, entity: str, columns: list[str]) -> tuple[list[str], str]:
    """(expressions, FROM tail) reading `columns` from the before-images of subquery `img`."""
    table = q(ENTITIES[entity].table.name)
    if conn.dialect == "sqlite":
        return [f"json_extract(img.before, '$.{c}')" for c in columns], ""
    return [
        f"r.{q(c)}" for c in columns
    ], f" CROSS JOIN LATERAL json_populate_record(NULL::{table}, img.before::json) r"


def undo(conn: TargetConnection, group: Group) -> list[KeptRow]:
    """Undo one group inside the caller's transaction; the rows an insert's undo kept."""
    table = q(ENTITIES[group.entity].table.name)
    bug = os.environ.get("MIGRATE_SEEDED_BUG") == SEEDED_BUG
    if group.op == "insert":
        return undo_inserts(conn, group.entity, [(e.id_lo, e.id_hi) for e in group.entries])
    if group.op == "update" and bug:
        conn.executemany(
            f"DELETE FROM {table} WHERE id BETWEEN ? AND ?", [(e.id_lo, e.id_hi) for e in group.entries]
        )
    elif group.op == "update":
        columns = [c for c in _columns(group.entity) if c != "id"]
        values, tail = _values(conn, group.entity, columns)
        sets = ", ".join(f"{q(c)} = {v}" for c, v in zip(columns, values, strict=True))
        conn.execute(
            f"UPDATE {table} SET {sets} FROM ({_images(group, True)}) img{tail} WHERE {table}.id = img.id"
        )
    else:
        columns = _columns(group.entity)
        values, tail = _values(conn, group.entity, columns)
        targets = ", ".join(q(c) for c in columns)
        conn.execute(
            f"INSERT INTO {table} ({targets}) SELECT {', '.join(values)} FROM ({_images(group, False)}) img{tail}"
        )
    return []
