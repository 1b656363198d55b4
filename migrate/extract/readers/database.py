"""A table or a query in a legacy database (any SQLAlchemy URL), streamed with a server-side
cursor in primary-key (or query) order, so memory does not grow with the table."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from sqlalchemy import MetaData, Table, column, inspect, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

from migrate.db import make_engine
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
        raise SourceError(f"source {name}: cannot read {mask_url(url)}: {detail}") from None
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
) -> Iterator[tuple[list[str], list[tuple]]]:
    """(column names, chunk of (1-based position, *texts)), in primary-key or query order."""
    with _connected(url, name) as conn:
        stmt = _statement(conn, spec, name, url)
        result = conn.execution_options(stream_results=True, max_row_buffer=chunk_size).execute(stmt)
        header = [str(k) for k in result.keys()]
        number = 1
        while rows := result.fetchmany(chunk_size):
            yield header, [(number + i, *map(db_text, row)) for i, row in enumerate(rows)]
            number += len(rows)
        if number == 1:
            yield header, []


def fingerprint_rows(spec: SourceSpec, name: str, url: URL, chunk_size: int = 10_000) -> str:
    """Row count plus a content hash of every value, in read order."""
    hasher, count = hashlib.sha256(), 0
    for _, chunk in read_rows(spec, name, url, chunk_size):
        hash_chunk(hasher, chunk)
        count += len(chunk)
    return f"rows:{count};sha256:{hasher.hexdigest()}"


def hash_chunk(hasher, chunk: list[tuple]) -> None:
    for row in chunk:
        hasher.update(
            "\x1f".join("\x00" if v is None else v for v in row[1:]).encode("utf-8", "surrogatepass")
        )
        hasher.update(b"\x1e")


def count_rows(spec: SourceSpec, name: str, root: Path) -> int:
    """How many rows the source's table or query has now (read-only; the rehearsal ETA scales by it)."""
    from sqlalchemy import func

    url = source_url(spec, name, root)
    with _connected(url, name) as conn:
        statement = _statement(conn, spec, name, url)
        return int(conn.execute(select(func.count()).select_from(statement.subquery())).scalar_one())
