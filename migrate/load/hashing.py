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
  sorts a large table in a database file as two shares at once, the lower one on the caller's
  connection and the upper one in a process of its own (`sqlite_share`), both reading the same
  committed state (a connection with a transaction of its own, which may hold rows only it can
  see, sorts alone);
- the digest is SHA-256 of the lines as PostgreSQL's COPY writes them: each followed by a
  newline, backslashes doubled (JSON leaves no other character COPY would escape).

A value written by hand in a form the model does not write (a decimal without its six places,
a timestamp with an offset) is hashed as it is stored: the same every time, but not equal to
its PostgreSQL twin.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from sqlalchemy import Boolean, Connection, Date, Engine, Integer, Table

from migrate.load.sqlite_share import BLOCK_ROWS, block_bytes
from migrate.model import ENTITIES, ExactDecimal, UtcDateTime, metadata
from migrate.store import input_fingerprint  # noqa: F401 - load's name for it
from migrate.workers import usable_cores

_SKIP = {"id", "created_at", "updated_at"}
# SQLite: below this many rows (by rowid span) a second process costs more than it saves
SHARED_FROM_ROWS = 200_000
_CALLER_SHARE = 0.5  # of the rows, sorted here; the rest in the share process
_SHARE_SLACK = 0.15  # a split further from the share than this leaves the table to one connection
_SAMPLE_ROWS = 1_000
_GATE_WAIT_S = 0.5
_SPOOL_READ = 1 << 20


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
    """The sorted lines of the caller's connection alone, or, for a large table in a database
    file, of two shares of the table sorted at once: the lower share here, the upper one in a
    process of its own (no GIL between them), both reading the same committed state."""
    driver = conn.connection.driver_connection
    lines = line_sql(table, "sqlite")
    plan = share_plan(driver, table)
    if plan is not None:
        with contextlib.suppress(ShareFailed):
            return _shared_hash(driver, table, lines, plan)
    return _digest(hashlib.sha256(), driver.execute(f"{lines} ORDER BY line")).hexdigest()


def _digest(digest: hashlib._Hash, cursor: sqlite3.Cursor) -> hashlib._Hash:
    """`digest` updated with the cursor's sorted lines, a block at a time."""
    try:
        while rows := cursor.fetchmany(BLOCK_ROWS):
            digest.update(block_bytes(rows))
    finally:
        cursor.close()
    return digest


def _database_file(driver: sqlite3.Connection) -> str:
    return driver.execute("PRAGMA database_list").fetchone()[2]  # of 'main'; '' in memory


def share_plan(driver: sqlite3.Connection, table: Table) -> tuple[str, str] | None:
    """(key, split): the caller's share is the rows whose `key` sorts below `split`, the other
    process's the rest. None when one connection must or should do it all: it has uncommitted
    rows (a rollback rehearsal hashes its replayed state, which only it can see) or a
    transaction of its own, the database is in memory, the table is small, one core.

    The key is the JSON array of the line's first fields and a 0: it orders rows as their
    lines do (each element is followed by a comma in both, and no JSON value is a prefix of
    another followed by a comma), so every line of the lower share sorts before every line of
    the upper one and the digest reads the two one after the other. The split is taken from a
    sample of rows; a key whose sample cannot be cut near the share tries one more field."""
    if driver.in_transaction or not _database_file(driver) or usable_cores() < 2:
        return None
    name = _quote(table.name)
    lo, hi = driver.execute(
        f"SELECT (SELECT min(rowid) FROM {name}), (SELECT max(rowid) FROM {name})"
    ).fetchone()
    if hi is None or hi - lo + 1 < SHARED_FROM_ROWS:
        return None
    rowids = json.dumps(sorted(random.Random(hi).sample(range(lo, hi + 1), min(_SAMPLE_ROWS, hi - lo + 1))))
    fields, source = _fields(table)
    for width in range(1, len(fields)):
        key = share_key([expr for expr, _ in fields[:width]])
        sampled = driver.execute(
            f"SELECT {key} FROM {source} WHERE t.rowid IN (SELECT value FROM json_each(?))", (rowids,)
        )
        split = _split(sorted(k for (k,) in sampled))
        if split is not None:
            return key, split
    return None


def share_key(values: list[str]) -> str:
    """SQL of the key that orders rows as their lines do, from their first values (share_plan)."""
    return f"json_array({', '.join(values)}, 0)"


def _split(keys: list[str]) -> str | None:
    """The key value that cuts the sorted sample nearest to the caller's share (at the start or
    the end of the run of keys equal to the one at the share), if near enough."""
    if not keys:  # the sample met no row: rowids with wide gaps
        return None
    middle = keys[int(len(keys) * _CALLER_SHARE)]
    cuts = [(bisect_left(keys, middle), middle)]
    if (after := bisect_right(keys, middle)) < len(keys):
        cuts.append((after, keys[after]))
    at, value = min(cuts, key=lambda cut: abs(cut[0] / len(keys) - _CALLER_SHARE))
    return value if abs(at / len(keys) - _CALLER_SHARE) <= _SHARE_SLACK else None


class ShareFailed(Exception):
    """The other process's share did not arrive whole: the caller's connection hashes alone."""


def _shared_hash(driver: sqlite3.Connection, table: Table, lines: str, plan: tuple[str, str]) -> str:
    """Both shares sorted at once; the caller's lines digested as they come, then the other
    process's, spooled to an unlinked temporary file (where SQLite's own sorter spills too)."""
    key, split = plan
    path, snapshot = _database_file(driver), f"SELECT 1 FROM {_quote(table.name)} LIMIT 1"
    request = {
        "database": path,
        "snapshot": snapshot,
        "lines": f"{lines} WHERE {key} >= ? ORDER BY line",
        "parameters": [split],
    }
    with _share_process() as (child, spool):
        try:
            with _writers_held(path):
                _send(child, request)
                _expect(child, "begun")
                driver.execute("BEGIN")  # the caller's connection was in none (share_plan)
                driver.execute(snapshot).fetchall()
            lower = driver.execute(f"{lines} WHERE {key} < ? ORDER BY line", (split,))
            digest = _digest(hashlib.sha256(), lower)
        finally:
            if driver.in_transaction:
                driver.execute("COMMIT")  # ends the read transaction begun above (nothing was written)
        _expect(child, "done")  # said once its share is written whole
        spool.seek(0)
        while block := spool.read(_SPOOL_READ):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _share_process() -> Iterator[tuple[subprocess.Popen, IO[bytes]]]:
    """The process that sorts the upper share (`sqlite_share`) and the file it writes it to;
    killed if the caller stops early."""
    script = Path(__file__).with_name("sqlite_share.py")
    with tempfile.TemporaryFile() as spool:
        try:
            child = subprocess.Popen(
                [sys.executable, "-I", "-S", str(script)],
                stdin=subprocess.PIPE,
                stdout=spool,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:  # no interpreter to start (an embedded Python)
            raise ShareFailed(str(exc)) from exc
        try:
            yield child, spool
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
            child.stdin.close()
            child.stderr.close()


def _send(child: subprocess.Popen, request: dict) -> None:
    try:
        child.stdin.write(json.dumps(request).encode() + b"\n")
        child.stdin.close()
    except BrokenPipeError as exc:  # it ended before reading its request
        raise ShareFailed("the share process ended before its request") from exc


def _expect(child: subprocess.Popen, word: str) -> str:
    """The share process's next line on standard error, which must begin with `word`."""
    said = child.stderr.readline().decode(errors="replace")
    if not said.startswith(word):
        said += child.stderr.read(_SPOOL_READ).decode(errors="replace")
        raise ShareFailed(f"the share process said {said[-500:]!r}, not {word!r}")
    return said


@contextlib.contextmanager
def _writers_held(path: str) -> Iterator[None]:
    """Writers wait while both readers take their snapshot, so they read one committed state:
    a connection of its own holds `BEGIN IMMEDIATE` (milliseconds). A writer that holds the
    database past a short wait leaves the hash to the caller's connection."""
    gate = sqlite3.connect(path, timeout=_GATE_WAIT_S, isolation_level=None)
    try:
        try:
            gate.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # locked (or a read-only file)
            raise ShareFailed(str(exc)) from exc
        yield
    finally:
        gate.close()  # rolls back: nothing was written
