"""What a load inserted, row by row: digests of each row's natural key and content as the
load wrote them, kept in `migrate_load_written` in the same transaction as the rows.

The ledger names inserted ids as ranges; ids are unique for the life of a target (alembic
0005), but a hand `INSERT` with an explicit id, or a hand edit, can still put into such a
range a row the load did not write. The undo of an insert compares each row with its
digests (`migrate.rollback.foreign`) and deletes only rows that still match.

Digests are computed by the database: PostgreSQL's `md5` over `json_build_array` of the
stored values; on SQLite `json_array` of the stored values through `migrate_md5`, a
function registered on every target connection (`register`).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence

from migrate.load.sql import SKIP, q
from migrate.model import ENTITIES

TABLE = "migrate_load_written"


def _md5(text: str | None) -> str | None:
    return None if text is None else hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def register(raw: sqlite3.Connection) -> None:
    """Give a SQLite connection the digest function the load and the rollback use."""
    raw.create_function("migrate_md5", 1, _md5, deterministic=True)


def _digest(columns: Sequence[str], dialect: str, prefix: str) -> str:
    values = ", ".join(f"{prefix}.{q(c)}" for c in columns)
    if dialect == "sqlite":
        return f"migrate_md5(json_array({values}))"
    return f"md5(json_build_array({values})::text)"


def digests(entity: str, dialect: str, prefix: str) -> tuple[str, str]:
    """SQL for (natural key digest, content digest) of a row of `entity` named `prefix`.
    Key parts that are references are the stored foreign-key ids; content leaves out the
    surrogate id and the timestamps a database sets by itself."""
    spec = ENTITIES[entity]
    fk = {r.column: r.fk_column for r in spec.references}
    key = [fk.get(k, k) for k in spec.natural_key]
    row = [c.name for c in spec.table.columns if c.name not in SKIP]
    return _digest(key, dialect, prefix), _digest(row, dialect, prefix)


def record(conn, entity: str, ranges: Sequence[tuple[int, int]]) -> None:
    """Inside the chunk's transaction: the digests of the rows just inserted in `ranges`."""
    key, row = digests(entity, conn.dialect, "t")
    conn.executemany(
        f"INSERT INTO {TABLE} (entity, id, key_digest, row_digest) "
        f"SELECT ?, t.id, {key}, {row} FROM {q(ENTITIES[entity].table.name)} t WHERE t.id BETWEEN ? AND ? "
        "ON CONFLICT (entity, id) DO UPDATE SET key_digest = excluded.key_digest, "
        "row_digest = excluded.row_digest",
        [(entity, lo, hi) for lo, hi in ranges],
    )
