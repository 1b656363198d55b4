"""Content hashes of target tables and fingerprints of load inputs.

`content_hash` is what cutover points record and rollback compares. It is computed where the
data is: the database renders each row as one line of JSON and sorts the lines; only the
sorted text crosses to Python, which digests it in large blocks. The line is the same on
SQLite and PostgreSQL, so the hash is too:

- a JSON array of the row's values as SQLite stores them: decimals as text at the model's
  scale (`"12.500000"`), timestamps in UTC as `"YYYY-MM-DD HH:MM:SS.ffffff"`, dates
  `"YYYY-MM-DD"`, integers and booleans as numbers (`1`/`0`), NULL as `null`; SQLite's
  `json_array` writes it, PostgreSQL renders the same text (values cast to text and quoted,
  `to_json` only for a row whose text holds a character JSON escapes);
- surrogate ids and created_at/updated_at left out, foreign keys as the natural key they point
  to: the hash describes content, so a delta-loaded table and a fresh load of the same sources
  agree;
- lines sorted in code-point order (SQLite's BINARY, PostgreSQL's "C" collation), so the hash
  does not depend on the order rows are stored in; PostgreSQL sorts in parallel workers when
  its configuration allows them (`max_parallel_workers_per_gather`, 2 by default);
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


# a character JSON escapes (SQLite's json_array and PostgreSQL's to_json alike); the regex
# receives [\x01-\x1f"\\], an E'' literal reads the same whatever standard_conforming_strings says
_ESCAPED = r"""E'[\\x01-\\x1f"\\\\]'"""


def _is_text(column_type) -> bool:
    return not isinstance(column_type, (Boolean, Integer, UtcDateTime, Date, ExactDecimal))


def _postgresql_json(x: str, column_type, escaped: bool) -> str:
    """The JSON SQLite's json_array writes for the value SQLite would store. Numbers, decimals,
    dates and timestamps never hold a character JSON escapes, and neither do text values when
    `escaped` is false (the caller checked): they are quoted as they are, which costs a
    fraction of `to_json`. Timestamps are cast to text (the ISO DateStyle, which the caller
    sets) and padded to six places: a third of `to_char`'s cost."""
    if isinstance(column_type, Boolean):
        return f"CASE WHEN {x} THEN '1' WHEN NOT {x} THEN '0' ELSE 'null' END"
    if isinstance(column_type, Integer):
        return f"COALESCE(CAST({x} AS TEXT), 'null')"
    if isinstance(column_type, UtcDateTime):  # '2024-03-01 00:00:01.5' -> '2024-03-01 00:00:01.500000'
        x = f"overlay(rpad(CAST({x} AT TIME ZONE 'UTC' AS TEXT), 26, '0') placing '.' from 20 for 1)"
    elif isinstance(column_type, (Date, ExactDecimal)) or not escaped:
        x = f"CAST({x} AS TEXT)"
    else:
        return f"COALESCE(CAST(to_json(CAST({x} AS TEXT)) AS TEXT), 'null')"
    return f"""COALESCE('"' || {x} || '"', 'null')"""


def _postgresql_line(fields: list[tuple[str, object]]) -> str:
    """The row's JSON line: quoted as it is unless one of its text values holds a character
    JSON escapes (one regex test of them all per row, cheaper than escaping each value)."""

    def array(escaped: bool) -> str:
        values = ", ".join(_postgresql_json(e, t, escaped) for e, t in fields)
        return f"'[' || concat_ws(',', {values}) || ']'"

    texts = [e for e, t in fields if _is_text(t)]
    if not texts:
        return array(escaped=False)
    return f'CASE WHEN concat({", ".join(texts)}) COLLATE "C" ~ {_ESCAPED} THEN {array(True)} ELSE {array(False)} END'


def line_sql(table: Table, dialect: str) -> str:
    """SELECT of one column, `line`: each row of `table` as its JSON line (module doc)."""
    fields, source = _fields(table)
    if dialect == "sqlite":
        line = f"json_array({', '.join(expr for expr, _ in fields)})"
    else:  # collated here, not in the ORDER BY: the sort then holds one copy of each line, not two
        line = f'({_postgresql_line(fields)}) COLLATE "C"'
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
    query = f"COPY (SELECT line FROM ({line_sql(table, 'postgresql')}) AS l ORDER BY line) TO STDOUT"
    digest = hashlib.sha256()
    with conn.connection.driver_connection.cursor() as cursor:
        datestyle = cursor.execute("SHOW DateStyle").fetchone()[0]
        cursor.execute(
            "SET LOCAL work_mem = '64MB'"
        )  # each sorting process keeps ~500,000 lines in memory, then merges
        # the timestamp text the line assumes; a session SET, which holds in autocommit too
        cursor.execute("SET DateStyle = 'ISO'")
        with cursor.copy(query) as copy:
            for block in copy:
                digest.update(block)
        # the caller goes on with its own DateStyle (in a transaction, a failure rolls the SET back)
        cursor.execute("SELECT set_config('DateStyle', %s, false)", (datestyle,))
    return digest.hexdigest()


def _sqlite_hash(conn: Connection, table: Table) -> str:
    digest = hashlib.sha256()
    cursor = conn.connection.driver_connection.execute(f"{line_sql(table, 'sqlite')} ORDER BY line")
    while rows := cursor.fetchmany(_BLOCK_ROWS):
        block = "\n".join([r[0] for r in rows]) + "\n"
        digest.update(block.replace("\\", "\\\\").encode())  # as COPY writes a backslash
    cursor.close()
    return digest.hexdigest()
