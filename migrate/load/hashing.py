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
  its configuration allows them (`max_parallel_workers_per_gather`, 2 by default); SQLite
  sorts a large table as two halves (by rowid) in two connections at once when a second core
  is free (by the load average), both reading the same committed state, and the sorted halves are merged in Python (a
  connection with uncommitted rows, which only it can see, sorts them alone);
- the digest is SHA-256 of the lines as PostgreSQL's COPY writes them: each followed by a
  newline, backslashes doubled (JSON leaves no other character COPY would escape).

A value written by hand in a form the model does not write (a decimal without its six places,
a timestamp with an offset) is hashed as it is stored: the same every time, but not equal to
its PostgreSQL twin.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import sqlite3
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy import Boolean, Connection, Date, Engine, Integer, Table

from migrate.model import ENTITIES, ExactDecimal, UtcDateTime, metadata
from migrate.store import input_fingerprint  # noqa: F401 - load's name for it

_SKIP = {"id", "created_at", "updated_at"}
_BLOCK_ROWS = 50_000
# below this many rows (by rowid span) a second connection and sorter cost more than they save
PARALLEL_FROM_ROWS = 200_000
_LOCK_WAIT_S = 0.5
# the reader also merges and digests (a sixth of the work): it sorts the smaller part
_READER_SHARE = 0.42


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
    """The sorted lines of one connection, or of two halves of the table sorted at once when
    the caller's connection has nothing uncommitted to see (a fresh pair reads the same
    committed state) and the table is large enough to pay for a second sorter."""
    driver = conn.connection.driver_connection
    lines = line_sql(table, "sqlite")
    # two queries: each reads one end of the b-tree; min and max in one query scan the table
    name = _quote(table.name)
    lo, hi = driver.execute(
        f"SELECT (SELECT min(rowid) FROM {name}), (SELECT max(rowid) FROM {name})"
    ).fetchone()
    path = driver.execute("PRAGMA database_list").fetchone()[2]  # of 'main'; '' in memory
    if hi is None or hi - lo < PARALLEL_FROM_ROWS or driver.in_transaction or not path or not core_free():
        return _digest(_blocks(driver.execute(f"{lines} ORDER BY line")))
    with _same_snapshot(path, table) as pair:
        if pair is None:  # a writer held the database: one connection, as above
            return _digest(_blocks(driver.execute(f"{lines} ORDER BY line")))
        first, second = pair
        middle = lo + int((hi - lo) * _READER_SHARE)
        half = f"{lines} WHERE t.rowid BETWEEN ? AND ? ORDER BY line"
        with _in_thread(lambda: _blocks(second.execute(half, (middle + 1, hi))), second) as later:
            return _digest(_merged(_blocks(first.execute(half, (lo, middle))), later))


def core_free() -> bool:
    """Whether a second core is likely idle: the 1-minute load average (this process counted)
    leaves one. On a busy machine the second sorter waits for a core and only adds its cost
    (15% more CPU, measured at load 5: bench/hash.md)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return os.getloadavg()[0] <= cores - 1


def _blocks(cursor: sqlite3.Cursor) -> Iterator[list[str]]:
    """The lines of a cursor, a sorted block of up to _BLOCK_ROWS at a time."""
    try:
        while rows := cursor.fetchmany(_BLOCK_ROWS):
            yield [row[0] for row in rows]
    finally:
        cursor.close()


def _digest(blocks: Iterable[list[str]]) -> str:
    digest = hashlib.sha256()
    for block in blocks:
        if block:
            text = "\n".join(block) + "\n"
            digest.update(text.replace("\\", "\\\\").encode())  # as COPY writes a backslash
    return digest.hexdigest()


def _merged(a: Iterator[list[str]], b: Iterator[list[str]]) -> Iterator[list[str]]:
    """Two streams of sorted blocks as one: each round emits every line up to the smaller of
    the two blocks' last lines, which `list.sort` merges as two runs (in C, a comparison per line)."""
    block_a, block_b = next(a, []), next(b, [])
    while block_a and block_b:
        bound = min(block_a[-1], block_b[-1])
        cut_a, cut_b = bisect_right(block_a, bound), bisect_right(block_b, bound)
        out = block_a[:cut_a] + block_b[:cut_b]
        out.sort()
        yield out
        block_a, block_b = block_a[cut_a:] or next(a, []), block_b[cut_b:] or next(b, [])
    yield block_a or block_b
    yield from a
    yield from b


@contextlib.contextmanager
def _in_thread(
    make_blocks: Callable[[], Iterator[list[str]]], connection: sqlite3.Connection
) -> Iterator[Iterator[list[str]]]:
    """Blocks made in a thread of their own, at most two ahead of the reader: SQLite scans,
    sorts and steps without holding the GIL, so this half's sorter runs on the other core."""
    handoff: queue.Queue = queue.Queue(maxsize=2)

    def produce() -> None:
        try:
            for block in make_blocks():
                handoff.put(block)
            handoff.put(None)
        except BaseException as exc:  # raised in the reader
            handoff.put(exc)

    thread = threading.Thread(target=produce, name="content-hash", daemon=True)
    thread.start()
    try:
        yield _received(handoff)
    finally:  # a reader that stopped early: end the statement and let the thread finish
        if thread.is_alive():
            connection.interrupt()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.05)
        thread.join()


def _received(handoff: queue.Queue) -> Iterator[list[str]]:
    while (item := handoff.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item


@contextlib.contextmanager
def _same_snapshot(path: str, table: Table) -> Iterator[tuple[sqlite3.Connection, sqlite3.Connection] | None]:
    """Two connections to the database file, each in a read transaction of the same committed
    state: a third holds writers off (BEGIN IMMEDIATE) for the milliseconds it takes both to
    begin. None when a writer holds the database past a short wait."""
    lock = sqlite3.connect(path, timeout=_LOCK_WAIT_S, isolation_level=None)
    pair = [sqlite3.connect(path, isolation_level=None, check_same_thread=False) for _ in range(2)]
    try:
        try:
            lock.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # locked, or a read-only file
            yield None
            return
        for reader in pair:  # a read transaction's snapshot starts at its first read
            reader.execute("BEGIN")
            reader.execute(f"SELECT 1 FROM {_quote(table.name)} LIMIT 1").fetchall()
        lock.execute("ROLLBACK")
        yield pair[0], pair[1]
    finally:
        for connection in (lock, *pair):
            connection.close()  # ends the read transactions (nothing was written)
