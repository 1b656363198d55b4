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
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal, get_args

import pandas as pd
from sqlalchemy import Engine, inspect, text

from migrate.db import make_engine
from migrate.model import ENTITIES, to_decimal

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
