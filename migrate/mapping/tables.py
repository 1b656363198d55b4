"""map's tables in the work store (`map_<entity>`, `map_rejects`, `map_runs`, the contract
load and reconcile read) and fast driver-level reads and writes of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, column, select, table

from migrate.mapping.transforms import TEXT
from migrate.model import ENTITIES
from migrate.store import LINEAGE


class Tables:
    """Names of map's tables: the real ones, or scratch copies for `--simulate`."""

    def __init__(self, simulate: bool) -> None:
        self.prefix = "scratch_" if simulate else ""

    def mapped(self, entity: str) -> str:
        return f"{self.prefix}map_{entity}"

    @property
    def rejects(self) -> str:
        return f"{self.prefix}map_rejects"

    @property
    def runs(self) -> str:
        return f"{self.prefix}map_runs"


def mapped_schema(name: str, entity: str) -> Table:
    cols = [Column("_row_id", Integer, primary_key=True, autoincrement=False)]
    cols += [Column(c, Integer if c == "_row" else Text) for c in LINEAGE]
    cols += [Column(c, Text) for c in ENTITIES[entity].mapped_columns]
    return Table(name, MetaData(), *cols)


def rejects_schema(name: str) -> Table:
    cols = [Column("_row_id", Integer, primary_key=True), Column("entity", String(60), index=True)]
    cols += [Column(c, Integer if c == "_row" else Text) for c in LINEAGE]
    cols += [Column(c, Text) for c in ("reason", "rule", "column", "value", "message", *REJECT_EXTRAS)]
    return Table(name, MetaData(), *cols)


REJECT_EXTRAS = ("key", "reasons")  # added later: a work store from before gets them on first use


def create_rejects(engine: Engine, rejects: Table) -> None:
    """Create the rejects table, or add the columns an older work store's table lacks."""
    from sqlalchemy import inspect

    rejects.create(engine, checkfirst=True)
    have = {c["name"] for c in inspect(engine).get_columns(rejects.name)}
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        for name in REJECT_EXTRAS:
            if name not in have:
                conn.exec_driver_sql(f"ALTER TABLE {quote(rejects.name)} ADD COLUMN {quote(name)} TEXT")


def runs_schema(name: str) -> Table:
    return Table(
        name,
        MetaData(),
        Column("_row_id", Integer, primary_key=True),
        Column("entity", String(60)),
        Column("run_at", Text),
        *(Column(c, Integer) for c in ("source_rows", "mapped", "rejected", "filtered")),
        Column("details", Text),
    )


def insert_frame(engine: Engine, target: Table, frame: pd.DataFrame) -> None:
    """Rows in one driver-level executemany of tuples (identifiers quoted by the dialect).

    SQLAlchemy's per-row parameter processing and `to_dict("records")` cost more than the
    mapping itself at a million rows; the columns here are plain text and integers.
    """
    if frame.empty:
        return
    names = [c.name for c in target.columns if c.name in frame.columns]
    quote = engine.dialect.identifier_preparer.quote
    marks = ", ".join("?" if engine.dialect.paramstyle == "qmark" else "%s" for _ in names)
    sql = f"INSERT INTO {quote(target.name)} ({', '.join(quote(n) for n in names)}) VALUES ({marks})"
    rows = list(zip(*(_python_values(frame[n]) for n in names), strict=True))
    with engine.begin() as conn:
        conn.exec_driver_sql(sql, rows)


def _python_values(values: pd.Series) -> list:
    if values.dtype == TEXT:
        return pa.array(values).to_pylist()
    out = values.astype(object)
    return out.where(out.notna(), None).tolist()


def read_staged(engine: Engine, name: str, columns: list[str], chunk_size: int):
    """A staged table in row order, only the needed columns (quoted by the dialect), as text.

    Read with the driver's cursor and turned into pyarrow text columns directly: row objects
    and `from_records` would cost more than the mapping itself."""
    query = select(*(column(c) for c in columns)).select_from(table(name)).order_by(column("_row_id"))
    with engine.connect().execution_options(stream_results=True) as conn:
        compiled = query.compile(dialect=engine.dialect)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(str(compiled), ())
            while rows := cursor.fetchmany(chunk_size):
                yield _frame(rows, columns)
        finally:
            cursor.close()


def _frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    grid = np.empty((len(rows), len(columns)), dtype=object)
    grid[:] = rows  # one C-level copy; columns are then sliced, not transposed in Python
    data = {}
    for i, name in enumerate(columns):
        values = grid[:, i]
        if name in LINEAGE:
            data[name] = pd.Series(values, dtype=object)
            continue
        try:
            array = pa.array(values, type=pa.string(), from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # a number staged by a lax writer: as its text
            array = pa.array([None if v is None else str(v) for v in values], type=pa.string())
        data[name] = pd.Series(array, dtype=TEXT)
    return pd.DataFrame(data)
