"""What a load inserted, row by row: each row's natural key and a digest of its content as
the load wrote them, kept in the same transaction as the rows.

The ledger names inserted ids as ranges; ids are unique for the life of a target (alembic
0005), but a hand `INSERT` with an explicit id, or a hand edit, can still put into such a
range a row the load did not write. The undo of an insert compares each row with its
digests (`migrate.rollback.foreign`) and deletes only rows that still match.

The database computes both: the key as JSON text of the stored values (`json_build_array`
on PostgreSQL, `json_array` on SQLite), the content digest as the MD5 of that JSON for
every column (PostgreSQL's `md5`; on SQLite `migrate_md5`, registered on every target
connection by `register`). Since alembic 0009 they are kept one row per inserted id range
(`migrate_load_written_range`: a JSON array of `[id, key, digest]`), not one row per row
(`migrate_load_written`, which loads before 0009 wrote, and which the undo still reads).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence

from migrate.load.sql import SKIP, q
from migrate.model import ENTITIES

TABLE = "migrate_load_written_range"  # one row per inserted id range (alembic 0009)
ROWS = "migrate_load_written"  # one row per row, as loads before 0009 wrote them: read and cleared


def _md5(text: str | None) -> str | None:
    return None if text is None else hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def register(raw: sqlite3.Connection) -> None:
    """Give a SQLite connection the digest function the load and the rollback use."""
    raw.create_function("migrate_md5", 1, _md5, deterministic=True)


def _json(columns: Sequence[str], dialect: str, prefix: str) -> str:
    values = ", ".join(f"{prefix}.{q(c)}" for c in columns)
    return f"json_array({values})" if dialect == "sqlite" else f"json_build_array({values})::text"


def digests(entity: str, dialect: str, prefix: str) -> tuple[str, str]:
    """SQL for (natural key as JSON text, content digest) of a row of `entity` named `prefix`.
    Key parts that are references are the stored foreign-key ids; content leaves out the
    surrogate id and the timestamps a database sets by itself. The key is kept as text
    (short); the content as an MD5, which on SQLite costs a Python call per row (measured:
    one call, not two, keeps recording at about a fifth of a 50k-row load's time)."""
    spec = ENTITIES[entity]
    fk = {r.column: r.fk_column for r in spec.references}
    key = [fk.get(k, k) for k in spec.natural_key]
    row = [c.name for c in spec.table.columns if c.name not in SKIP]
    content = _json(row, dialect, prefix)
    digest = f"migrate_md5({content})" if dialect == "sqlite" else f"md5({content})"
    return _json(key, dialect, prefix), digest


def _records(entity: str, dialect: str) -> str:
    """SQL aggregating the rows `t` of an id range into `records`: `[id, key, digest]` each,
    the key a JSON string holding the key's JSON text on both backends. SQLite nests the array
    `json_array` returns (a CAST keeps it JSON); a concatenation makes it plain text."""
    key, row = digests(entity, dialect, "t")
    if dialect == "sqlite":
        return f"json_group_array(json_array(t.id, '' || {key}, {row}))"
    return f"CAST(json_agg(json_build_array(t.id, {key}, {row})) AS text)"


def copy_records(conn, entity: str, lo: int, hi: int, into: str) -> None:
    """Insert into table `into` (id, natural_key, row_digest) the records of `entity`'s rows
    with an id in [lo, hi], from both tables (only the range rows overlapping it are read)."""
    if conn.dialect == "sqlite":
        element, elements = "json_extract(e.value, '$[{}]')", "json_each(r.records) e"
    else:
        element, elements = "e ->> {}", "json_array_elements(CAST(r.records AS json)) e"
    ident = f"CAST({element.format(0)} AS bigint)"
    conn.execute(
        f"INSERT INTO {into} (id, natural_key, row_digest) SELECT {ident}, {element.format(1)}, "
        f"{element.format(2)} FROM {TABLE} r, {elements} "
        f"WHERE r.entity = ? AND r.id_lo <= ? AND r.id_hi >= ? AND {ident} BETWEEN ? AND ?",
        (entity, hi, lo, lo, hi),
    )
    conn.execute(
        f"INSERT INTO {into} (id, natural_key, row_digest) SELECT id, natural_key, row_digest "
        f"FROM {ROWS} WHERE entity = ? AND id BETWEEN ? AND ?",
        (entity, lo, hi),
    )


def clear_records(conn, entity: str, ranges: Sequence[tuple[int, int]]) -> None:
    """Delete the records of `entity`'s rows in `ranges`: per-row ones in each range, and the
    range rows overlapping it (a range is recorded and undone whole, and ids are never reused,
    so a range row overlaps only its own range)."""
    conn.executemany(
        f"DELETE FROM {ROWS} WHERE entity = ? AND id BETWEEN ? AND ?", [(entity, lo, hi) for lo, hi in ranges]
    )
    conn.executemany(
        f"DELETE FROM {TABLE} WHERE entity = ? AND id_lo <= ? AND id_hi >= ?",
        [(entity, hi, lo) for lo, hi in ranges],
    )


def record(conn, entity: str, ranges: Sequence[tuple[int, int]]) -> None:
    """Inside the chunk's transaction: the digests of the rows just inserted in `ranges`, one
    record row per range.

    Records left for these ids (none, while ids are never reused) are deleted first
    (`clear_records`). Plain INSERTs, not `ON CONFLICT DO UPDATE`:
    its speculative insertion cost PostgreSQL 2.8x the CPU of a plain insert. One row per
    range, not per row: 0.29 s of PostgreSQL's CPU per 50,000 rows against 0.49 s (alembic
    0009's doc)."""
    clear_records(conn, entity, ranges)
    conn.executemany(
        f"INSERT INTO {TABLE} (entity, id_lo, id_hi, records) "
        f"SELECT ?, ?, ?, {_records(entity, conn.dialect)} FROM {q(ENTITIES[entity].table.name)} t "
        "WHERE t.id BETWEEN ? AND ?",
        [(entity, lo, hi, lo, hi) for lo, hi in ranges],
    )
