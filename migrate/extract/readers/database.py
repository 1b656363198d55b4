"""A table or a query in a legacy database (any SQLAlchemy URL), streamed with a server-side
cursor in primary-key (or query) order, so memory does not grow with the table."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from itertools import repeat
from pathlib import Path

import numpy as np
from sqlalchemy import MetaData, Table, column, inspect, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, NoSuchTableError, SQLAlchemyError

from migrate.db import database_fault, make_engine
from migrate.errors import ConfigError, SourceError
from migrate.extract.readers import cell_text
from migrate.project import SourceSpec
from migrate.urls import mask_url, parse_url, redact

_TABLE_NAME = re.compile(
    r"^[A-Za-z_\u0080-\uffff][\w\u0080-\uffff$]{0,62}(\.[A-Za-z_\u0080-\uffff][\w\u0080-\uffff$]{0,62})?$"
)


def source_url(spec: SourceSpec, name: str, root: Path) -> URL:
    return parse_url(spec.url or "", base_dir=root, where=f"project.yaml key sources.{name}.url")


def db_text(value) -> str | None:
    if type(value) is Decimal:
        return format(value, "f")
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return cell_text(value)


@contextmanager
def _connected(url: URL, name: str):
    engine = make_engine(url, read_only=True)  # a legacy source is never written to
    try:
        with engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        detail = redact(str(getattr(exc, "orig", exc) or exc)).strip().splitlines()[0][:300]
        fault = database_fault(url, exc) if isinstance(exc, DBAPIError) else None  # what to do, if known
        raise SourceError(
            f"source {name}: cannot read {mask_url(url)}: {detail}", hint=fault.hint if fault else None
        ) from None
    finally:
        engine.dispose()


def _statement(conn, spec: SourceSpec, name: str, url: URL):
    if spec.query:
        return text(spec.query)
    if not _TABLE_NAME.match(spec.table or ""):
        raise ConfigError(
            f"{spec.table!r} is not a table name.", file="project.yaml", key=f"sources.{name}.table"
        )
    schema, _, table_name = spec.table.rpartition(".")
    try:
        table = Table(table_name, MetaData(), autoload_with=conn, schema=schema or None)
    except NoSuchTableError:
        known = ", ".join(inspect(conn).get_table_names(schema=schema or None)[:20]) or "none"
        raise SourceError(
            f"source {name}: no table {spec.table!r} in {mask_url(url)}; tables: {known}."
        ) from None
    order = list(table.primary_key.columns) or list(table.columns)
    # untyped columns: values come as the driver gives them, not through SQLAlchemy's type processors
    # (which would turn SQLite's 1.5 into Decimal('1.5000000000'))
    return (
        select(*(column(c.name) for c in table.columns))
        .select_from(table)
        .order_by(*(column(c.name) for c in order))
    )


def read_rows(
    spec: SourceSpec, name: str, url: URL, chunk_size: int
) -> Iterator[tuple[list[str], int, list]]:
    """(column names, 1-based position of the chunk's first row, one sequence of texts per
    column), chunk by chunk in primary-key or query order. Values are turned into text a column
    at a time (`column_texts`), not one Python call per value."""
    with _connected(url, name) as conn:
        stmt = _statement(conn, spec, name, url)
        if conn.dialect.name == "sqlite":
            # sqlite3's cursor streams by itself and gives plain tuples; SQLAlchemy's streaming
            # strategy would buffer rows ahead of it, so it is not asked for here
            result = conn.execute(stmt)
            fetch = result.cursor.fetchmany
        else:
            result = conn.execution_options(stream_results=True, max_row_buffer=chunk_size).execute(stmt)
            fetch = result.fetchmany
        header = [str(k) for k in result.keys()]
        number = 1
        while rows := fetch(chunk_size):
            yield header, number, [column_texts(values) for values in zip(*rows, strict=True)]
            number += len(rows)
        if number == 1:
            yield header, 1, [() for _ in header]


def column_texts(values: tuple) -> list | tuple:
    """`db_text` of every value of one column, at C speed where the column holds one kind of
    value (text, integers or floats: a legacy table's usual columns)."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if kinds <= {str}:
        return [v or None for v in values] if "" in values else values
    if kinds == {int}:
        return [None if v is None else str(v) for v in values] if None in values else list(map(str, values))
    if kinds == {float}:
        return _float_texts(values)
    if float in kinds:  # floats among integers: SQLite's NUMERIC affinity stores 198.0 as 198
        floats = np.fromiter(map(isinstance, values, repeat(float)), dtype=bool, count=len(values))
        array = np.array(values, dtype=object)
        out = np.empty(len(values), dtype=object)
        out[floats] = _float_texts(array[floats].tolist())
        out[~floats] = list(map(db_text, array[~floats].tolist()))
        return out.tolist()
    return list(map(db_text, values))


def _float_texts(values: tuple) -> list:
    """`cell_text` of floats (NULL and NaN as None): whole numbers without a fraction, others
    by repr, both made by C code; whole numbers past int64 by `cell_text` itself."""
    array = np.array(values, dtype=np.float64)  # None becomes NaN, which is staged as NULL too
    finite = np.isfinite(array)
    whole = finite & (array == np.trunc(array))
    small = whole & (np.abs(array) < 2.0**63)
    out = np.empty(len(array), dtype=object)  # filled with None
    out[small] = list(map(str, array[small].astype(np.int64).tolist()))
    fraction = ~whole & ~np.isnan(array)
    out[fraction] = list(map(repr, array[fraction].tolist()))
    big = whole & ~small
    out[big] = [cell_text(v) for v in array[big].tolist()]
    return out.tolist()


def fingerprint_rows(spec: SourceSpec, name: str, url: URL, chunk_size: int = 10_000) -> str:
    """Row count plus a content hash of every value, in read order."""
    hasher, count = hashlib.sha256(), 0
    for _, _, columns in read_rows(spec, name, url, chunk_size):
        count += hash_columns(hasher, columns)
    return f"rows:{count};sha256:{hasher.hexdigest()}"


def hash_columns(hasher, columns: list) -> int:
    """Feed one chunk (as `read_rows` gives it) to `hasher`: each row's texts joined by the unit
    separator (NULL as NUL), each row ended by the record separator, the whole chunk encoded at
    once (the bytes are those of hashing row by row). Returns the chunk's row count."""
    if not columns or not len(columns[0]):
        return 0
    cells = [["\x00" if v is None else v for v in c] if None in c else c for c in columns]
    rows = "\x1e".join(map("\x1f".join, zip(*cells, strict=True)))
    hasher.update(rows.encode("utf-8", "surrogatepass") + b"\x1e")
    return len(columns[0])


def count_rows(spec: SourceSpec, name: str, root: Path) -> int:
    """How many rows the source's table or query has now (read-only; the rehearsal ETA scales by it)."""
    from sqlalchemy import func

    url = source_url(spec, name, root)
    with _connected(url, name) as conn:
        statement = _statement(conn, spec, name, url)
        if spec.query:  # a text() query has no columns SQLAlchemy knows: made a select to nest it
            statement = statement.columns()
        return int(conn.execute(select(func.count()).select_from(statement.subquery())).scalar_one())
