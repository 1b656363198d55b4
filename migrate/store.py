"""The work store (staging): raw extracted rows, mapped rows and rejects, with lineage.

Default: SQLite at `.migrate/staging.db`; any SQLAlchemy URL may replace it. The stages
hand over through these tables, and this module fixes their shape:

Both kinds of table have an integer primary key `_row_id` giving the row order.

- `stg_<source>` (written by extract): lineage columns `_source, _file, _sheet, _row,
  _run`, then one TEXT column per source column, named by `normalize_header` of the
  source's header text (the original text is kept by extract's column catalogue). Values
  are staged as read: text, never coerced (leading zeros, `NA` and long codes intact).
- `map_<entity>` (written by map, read by load and reconcile): lineage columns, then
  `Entity.mapped_columns` in canonical text form (`to_canonical`): references by natural
  key, decimals at the model's scale, dates `YYYY-MM-DD`, timestamps ISO 8601 in UTC,
  booleans `true`/`false`, NULL as NULL.
- `map_fingerprints` (written by map, read by load): each mapped table's input fingerprint
  (`RowDigest`), computed while map wrote it; triggers on the mapped table delete the record
  on any later change, so load reads the table again only when it must.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, get_args

from sqlalchemy import Engine, inspect, text

from migrate.db import make_engine
from migrate.model import ENTITIES, to_decimal

if TYPE_CHECKING:  # imported where used: a command that only names tables starts without them
    import pandas as pd
    import pyarrow as pa

LINEAGE = ("_source", "_file", "_sheet", "_row")

#: Why map rejects a row: the `reason` of `map_rejects`, and what the factory's manifest predicts.
Reason = Literal[
    "duplicate_key",
    "unknown_reference",
    "invalid_date",
    "invalid_number",
    "negative_quantity",
    "unknown_value",
    "missing_value",
    "expiry_before_manufacture",
    "out_of_range",
    "invalid_format",
    "not_allowed",
    "too_long",
]
REASONS: tuple[str, ...] = get_args(Reason)
_SPACES = re.compile(r"\s+")


def normalize_header(text: str) -> str:
    """The name a header is matched by: NFKC (full-width → half-width), NBSP and runs of
    spaces folded, trimmed, case-folded. `物料编码 ` and `物料编码` match; so do `ＱＴＹ` and `qty`."""
    text = unicodedata.normalize("NFKC", str(text)).replace("\u00a0", " ")
    return _SPACES.sub(" ", text).strip().casefold()


def staged_table(source: str) -> str:
    return f"stg_{source}"


def mapped_table(entity: str) -> str:
    return f"map_{entity}"


def text_lines(table: pa.Table, columns: list[str], separator: str, null: str, escape: bool = False):
    """The rows of `table` as one block of text lines (columns cast to text, NULL as `null`,
    joined by `separator`, each line ending in a newline), built by Arrow kernels and returned
    as a view of the Arrow buffer. `escape`: backslash, tab, CR and LF escaped as PostgreSQL's
    text COPY reads them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []
    for name in columns:
        values = pc.cast(table[name], pa.string())
        if escape:
            for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
                values = pc.replace_substring(values, raw, escaped)
        parts.append(pc.fill_null(values, null))
    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*parts, separator), "", "\n")
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    ends = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    return memoryview(lines.buffers()[2])[ends[0] : ends[-1]]


class RowDigest:
    """The input fingerprint of a mapped table, fed in `_row_id` order: SHA-256 of one line per
    row, `_row_id` and the mapped columns as text joined by U+001F, NULL as U+0000, each line
    ending in a newline (what `hashing.input_fingerprint` computes by reading the table back).
    Lines are built by Arrow kernels and digested straight from the Arrow buffer."""

    def __init__(self) -> None:
        self.digest, self.rows = hashlib.sha256(), 0

    def update(self, table: pa.Table, columns: list[str]) -> None:
        if not table.num_rows:
            return
        self.digest.update(text_lines(table, ["_row_id", *columns], "\x1f", "\x00"))
        self.rows += table.num_rows

    def result(self) -> tuple[str, int]:
        return self.digest.hexdigest(), self.rows


FINGERPRINTS = "map_fingerprints"  # mapped table -> its RowDigest, recorded by map as it wrote
_CHANGED = "migrate_map_changed"  # the trigger (and PostgreSQL function) that forgets it


def forget_fingerprint(engine: Engine, table: str) -> None:
    """Before map rewrites a table: its recorded fingerprint no longer holds."""
    with engine.begin() as conn:
        _create_fingerprints(conn)
        conn.exec_driver_sql(f'DELETE FROM "{FINGERPRINTS}" WHERE "table" = \'{table}\'')


def _create_fingerprints(conn) -> None:
    conn.exec_driver_sql(
        f'CREATE TABLE IF NOT EXISTS "{FINGERPRINTS}" ("table" TEXT PRIMARY KEY, fingerprint TEXT, "rows" BIGINT)'
    )


def record_fingerprint(engine: Engine, table: str, fingerprint: str, rows: int) -> None:
    """Record a mapped table's fingerprint, with triggers that delete the record on any later
    INSERT, UPDATE, DELETE (or TRUNCATE) of the table: a hand edit makes load read the table
    again. `table` is a name map built from a model entity (no quoting needed beyond ours)."""
    with engine.begin() as conn:
        _create_fingerprints(conn)
        conn.exec_driver_sql(f'DELETE FROM "{FINGERPRINTS}" WHERE "table" = \'{table}\'')
        for sql in _trigger_sql(engine.dialect.name, table):
            conn.exec_driver_sql(sql)
        conn.exec_driver_sql(
            f'INSERT INTO "{FINGERPRINTS}" ("table", fingerprint, "rows") VALUES (\'{table}\', \'{fingerprint}\', {int(rows)})'
        )


def _trigger_sql(dialect: str, table: str) -> list[str]:
    forget = f'DELETE FROM "{FINGERPRINTS}" WHERE "table" = \'{table}\''
    if dialect == "sqlite":
        return [
            f'CREATE TRIGGER IF NOT EXISTS "{_CHANGED}_{event.lower()}_{table}" AFTER {event} ON "{table}" '
            f"BEGIN {forget}; END"
            for event in ("INSERT", "UPDATE", "DELETE")
        ]
    return [
        f"CREATE OR REPLACE FUNCTION {_CHANGED}() RETURNS trigger LANGUAGE plpgsql AS "
        f'$$ BEGIN DELETE FROM "{FINGERPRINTS}" WHERE "table" = TG_TABLE_NAME; RETURN NULL; END $$',
        f'DROP TRIGGER IF EXISTS {_CHANGED} ON "{table}"',
        f'CREATE TRIGGER {_CHANGED} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{table}" '
        f"FOR EACH STATEMENT EXECUTE FUNCTION {_CHANGED}()",
    ]


def stored_fingerprint(engine: Engine, table: str) -> tuple[str, int] | None:
    """The fingerprint map recorded for `table`, if it still holds: recorded, and the table's
    triggers in place (a table dropped and made again by hand has none)."""
    if not inspect(engine).has_table(FINGERPRINTS):
        return None
    if engine.dialect.name == "sqlite":
        guards = (
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t AND name LIKE :n"
        )
        expected = 3
    else:
        guards = "SELECT COUNT(*) FROM pg_trigger WHERE tgrelid = to_regclass(:q) AND tgname = :n"
        expected = 1
    with engine.connect() as conn:
        row = conn.execute(
            text(f'SELECT fingerprint, "rows" FROM "{FINGERPRINTS}" WHERE "table" = :t'), {"t": table}
        ).first()
        name = f"{_CHANGED}%" if engine.dialect.name == "sqlite" else _CHANGED
        found = conn.execute(text(guards), {"t": table, "q": f'"{table}"', "n": name}).scalar_one()
    return (row[0], int(row[1])) if row is not None and found == expected else None


def input_fingerprint(store_engine: Engine, table: str, columns: list[str]) -> tuple[str, int]:
    """The `RowDigest` of a mapped table read back (and its row count): what load uses when map
    recorded none, or the table changed since (`stored_fingerprint`)."""
    import pyarrow as pa

    if store_engine.dialect.name == "sqlite":
        return _sqlite_fingerprint(store_engine, table, columns)
    digest = RowDigest()
    names = ["_row_id", *columns]
    raw = store_engine.raw_connection()
    try:
        cur = raw.cursor()
        listed = ", ".join(f'"{c}"' for c in names)
        cur.execute(f'SELECT {listed} FROM "{table}" ORDER BY "_row_id"')
        while rows := cur.fetchmany(50_000):
            values = list(zip(*rows, strict=True))
            arrays = [pa.array(values[0], pa.int64()), *(pa.array(v, pa.string()) for v in values[1:])]
            digest.update(pa.Table.from_arrays(arrays, names=names), list(columns))
        cur.close()
    finally:
        raw.close()
    return digest.result()


def _sqlite_fingerprint(store_engine: Engine, table: str, columns: list[str]) -> tuple[str, int]:
    """The same lines built by SQLite, one text per 50,000 rows (about twice as fast as building
    Python rows, which had made the fingerprint the largest single cost of a load)."""
    line = " || char(31) || ".join(f'ifnull("{c}", char(0))' for c in ["_row_id", *columns])
    query = (
        f"SELECT group_concat(line, char(10)), MAX(_row_id), COUNT(*) FROM ("
        f'SELECT "_row_id" AS _row_id, {line} AS line FROM "{table}" '
        'WHERE "_row_id" > ? ORDER BY "_row_id" LIMIT 50000)'
    )
    digest, count, after = hashlib.sha256(), 0, -(2**63)
    raw = store_engine.raw_connection()
    try:
        cur = raw.cursor()
        while True:
            block, last, n = cur.execute(query, (after,)).fetchone()
            if not n:
                break
            digest.update(block.encode())
            digest.update(b"\n")
            count, after = count + n, last
        cur.close()
    finally:
        raw.close()
    return digest.hexdigest(), count


def to_canonical(value) -> str | None:
    """A typed value in the text form map writes and load reads."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | float) and not isinstance(value, bool):
        return str(to_decimal(value))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive timestamp {value!r} cannot be staged as mapped")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class WorkStore:
    """The staging database of one project."""

    def __init__(self, url_or_engine) -> None:
        self.engine: Engine = (
            url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
        )

    def has_table(self, name: str) -> bool:
        return inspect(self.engine).has_table(name)

    def count(self, table: str) -> int:
        if not self.has_table(table):
            return 0
        with self.engine.connect() as c:
            return c.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()

    def read_chunks(
        self, table: str, chunk_size: int = 50_000, columns: list[str] | None = None
    ) -> Iterator[pd.DataFrame]:
        """A table in row order, chunk by chunk, every value as text or None."""
        import pandas as pd

        cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        with self.engine.connect().execution_options(stream_results=True) as c:
            result = c.execute(text(f'SELECT {cols} FROM "{table}" ORDER BY "_row_id"'))
            keys = list(result.keys())
            while rows := result.fetchmany(chunk_size):
                yield pd.DataFrame.from_records(rows, columns=keys, coerce_float=False).astype(object)

    def columns(self, table: str) -> list[str]:
        return [c["name"] for c in inspect(self.engine).get_columns(table)]

    def read_mapped(self, entity: str, chunk_size: int = 50_000) -> Iterator[pd.DataFrame]:
        """Mapped rows of an entity: lineage columns and `Entity.mapped_columns`, canonical text."""
        columns = [*LINEAGE, *ENTITIES[entity].mapped_columns]
        if not self.has_table(mapped_table(entity)):
            return iter(())
        return self.read_chunks(mapped_table(entity), chunk_size, columns)

    def dispose(self) -> None:
        self.engine.dispose()
