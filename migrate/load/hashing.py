"""Content hashes of target tables and fingerprints of load inputs.

`content_hash` is what cutover points record and rollback compares. It is computed where the
data is: the database renders each row as one line of JSON and sorts the lines; only the
sorted text crosses to Python, which digests it in large blocks. The line is the same on
SQLite and PostgreSQL, so the hash is too:

- a JSON array of the row's values as SQLite stores them: decimals as text at the model's
  scale (`"12.500000"`), timestamps in UTC as `"YYYY-MM-DD HH:MM:SS.ffffff"`, dates
  `"YYYY-MM-DD"`, integers and booleans as numbers (`1`/`0`), NULL as `null`; SQLite's
  `json_array` writes it, PostgreSQL renders the same text (`to_json` of each value);
- surrogate ids and created_at/updated_at left out, foreign keys as the natural key they point
  to: the hash describes content, so a delta-loaded table and a fresh load of the same sources
  agree;
- lines sorted in code-point order (SQLite's BINARY, PostgreSQL's "C" collation), so the hash
  does not depend on the order rows are stored in;
- the digest is SHA-256 of the lines as PostgreSQL's COPY writes them: each followed by a
  newline, backslashes doubled (JSON leaves no other character COPY would escape).

A value written by hand in a form the model does not write (a decimal without its six places,
a timestamp with an offset) is hashed as it is stored: the same every time, but not equal to
its PostgreSQL twin.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Boolean, Connection, Date, Engine, Integer, Table

from migrate.model import ENTITIES, ExactDecimal, UtcDateTime, metadata
from migrate.store import input_fingerprint  # noqa: F401 - load's name for it

_SKIP = {"id", "created_at", "updated_at"}
_BLOCK_ROWS = 50_000


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fields(table: Table) -> tuple[list[tuple[str, object]], str]:
    """(SQL expression, column type) of each hashed column, and the FROM clause: foreign keys
    joined to their parent's natural key."""
    entity = ENTITIES.get(table.name)
    by_fk = {r.fk_column: r for r in entity.references} if entity else {}
    fields, joins = [], [f"{_quote(table.name)} AS t"]
    for col in table.columns:
        if col.name in _SKIP:
            continue
        ref = by_fk.get(col.name)
        if ref is None:
            fields.append((f"t.{_quote(col.name)}", col.type))
            continue
        alias, parent = f"r{len(joins)}", metadata.tables[ref.entity]
        joins.append(f"LEFT JOIN {_quote(parent.name)} AS {alias} ON {alias}.id = t.{_quote(col.name)}")
        key = parent.c[ENTITIES[ref.entity].key_column]
        fields.append((f"{alias}.{_quote(key.name)}", key.type))
    return fields, " ".join(joins)


def _postgresql_json(x: str, column_type) -> str:
    """The JSON SQLite's json_array writes for the value SQLite would store. Decimals, dates
    and timestamps are rendered by PostgreSQL without a character JSON escapes: quoted as they
    are, which costs a third of `to_json`."""
    if isinstance(column_type, Boolean):
        return f"CASE WHEN {x} THEN '1' WHEN NOT {x} THEN '0' ELSE 'null' END"
    if isinstance(column_type, Integer):
        return f"COALESCE(CAST({x} AS TEXT), 'null')"
    if isinstance(column_type, UtcDateTime):
        x = f"to_char({x} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
    elif isinstance(column_type, Date):
        x = f"to_char({x}, 'YYYY-MM-DD')"
    elif isinstance(column_type, ExactDecimal):
        x = f"CAST({x} AS TEXT)"
    else:
        return f"COALESCE(CAST(to_json(CAST({x} AS TEXT)) AS TEXT), 'null')"
    return f"""COALESCE('"' || {x} || '"', 'null')"""


def line_sql(table: Table, dialect: str) -> str:
    """SELECT of one column, `line`: each row of `table` as its JSON line (module doc)."""
    fields, source = _fields(table)
    if dialect == "sqlite":
        line = f"json_array({', '.join(expr for expr, _ in fields)})"
    else:
        line = "'[' || concat_ws(',', " + ", ".join(_postgresql_json(e, t) for e, t in fields) + ") || ']'"
    return f"SELECT {line} AS line FROM {source}"


def content_hash(engine: Engine, table: str | Table) -> str:
    """An order- and backend-independent hash of a table's content (see module doc)."""
    with engine.connect() as conn:
        return connection_hash(conn, table)


def connection_hash(conn: Connection, table: str | Table) -> str:
    """`content_hash` on an open connection: what it sees inside its own transaction (a
    rollback rehearsal hashes the replayed state before rolling it back)."""
    if isinstance(table, str):
        table = metadata.tables[table]
    if conn.dialect.name == "postgresql":
        return _postgresql_hash(conn, table)
    return _sqlite_hash(conn, table)


def _postgresql_hash(conn: Connection, table: Table) -> str:
    query = (
        f'COPY (SELECT line FROM ({line_sql(table, "postgresql")}) AS l ORDER BY line COLLATE "C") TO STDOUT'
    )
    digest = hashlib.sha256()
    with conn.connection.driver_connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'")  # sort in memory up to ~250,000 rows, then merge
        with cursor.copy(query) as copy:
            for block in copy:
                digest.update(block)
    return digest.hexdigest()


def _sqlite_hash(conn: Connection, table: Table) -> str:
    digest = hashlib.sha256()
    cursor = conn.connection.driver_connection.execute(f"{line_sql(table, 'sqlite')} ORDER BY line")
    while rows := cursor.fetchmany(_BLOCK_ROWS):
        block = "\n".join([r[0] for r in rows]) + "\n"
        digest.update(block.replace("\\", "\\\\").encode())  # as COPY writes a backslash
    cursor.close()
    return digest.hexdigest()
