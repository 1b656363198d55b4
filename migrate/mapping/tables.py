"""map's tables in the work store (`map_<entity>`, `map_rejects`, `map_runs`, the contract
load and reconcile read) and fast driver-level reads and writes of them."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, column, select, table

from migrate.arrowread import ADBC_MIN_ROWS, adbc_usable, read_batches, text_array
from migrate.errors import SourceError
from migrate.ingest import IngestFailure, IngestProcess
from migrate.mapping.transforms import TEXT
from migrate.model import ENTITIES
from migrate.store import LINEAGE, RowDigest, text_lines
from migrate.urls import mask_url

# Tables of this many rows on an SQLite file are read and written through the ADBC driver's
# processes; below, starting them costs more than the driver saves.
ARROW_MIN_ROWS = ADBC_MIN_ROWS


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

    A big SQLite table is read as Arrow by the ADBC driver (in a process of its own, so the
    reading overlaps the mapping); any other with the driver's cursor, turned into pyarrow text
    columns directly: row objects and `from_records` would cost more than the mapping itself."""
    query = select(*(column(c) for c in columns)).select_from(table(name)).order_by(column("_row_id"))
    compiled = query.compile(dialect=engine.dialect)
    if adbc_usable(engine) and _last_row_id(engine, name) >= ARROW_MIN_ROWS:
        for batch in read_batches(engine, str(compiled), columns, chunk_size, rows=ADBC_MIN_ROWS):
            yield _arrow_frame(batch)
        return
    with engine.connect().execution_options(stream_results=True) as conn:
        cursor = conn.connection.cursor()
        try:
            cursor.execute(str(compiled), ())
            while rows := cursor.fetchmany(chunk_size):
                yield _frame(rows, columns)
        finally:
            cursor.close()


def _last_row_id(engine: Engine, name: str) -> int:
    """About how many rows a staged table holds (its last `_row_id`: one index lookup)."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f'SELECT MAX("_row_id") FROM "{name}"').scalar() or 0)


def _arrow_frame(batch: pa.Table) -> pd.DataFrame:
    """An Arrow batch of text columns as `_frame` builds it: lineage as objects (`_row` an integer)."""
    data = {}
    for name in batch.column_names:
        values = batch[name].combine_chunks()
        if name == "_row":
            values = pc.cast(values, pa.int64())
        if name in LINEAGE:
            data[name] = pd.Series(_objects(values), dtype=object)
        else:
            data[name] = pd.Series(values, dtype=TEXT)
    return pd.DataFrame(data)


def _objects(values: pa.Array) -> np.ndarray:
    """Python objects of a column with few distinct values (lineage): each distinct value made
    once, then repeated by a numpy take."""
    if not pa.types.is_string(values.type):
        return values.to_numpy(zero_copy_only=False)
    encoded = values.dictionary_encode()
    distinct = np.array([*encoded.dictionary.to_pylist(), None], dtype=object)
    indices = encoded.indices.fill_null(len(encoded.dictionary)).to_numpy()
    return distinct[indices]


def _frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    grid = np.empty((len(rows), len(columns)), dtype=object)
    grid[:] = rows  # one C-level copy; columns are then sliced, not transposed in Python
    data = {}
    for i, name in enumerate(columns):
        values = grid[:, i]
        if name in LINEAGE:
            data[name] = pd.Series(values, dtype=object)
            continue
        # read from the work store as `read_batches` reads it: a NaN there is a value
        data[name] = pd.Series(text_array(values, nan_is_null=False), dtype=TEXT)
    return pd.DataFrame(data)


class MappedWriter:
    """Writes `map_<entity>` chunk by chunk as Arrow, and fingerprints the rows as they go
    (`RowDigest`, the input fingerprint load checks on resume).

    An SQLite file receiving many rows: each chunk goes to the ingest process (`migrate/ingest.py`,
    as extract's big sheets do), at most two chunks in flight, so the next chunk is mapped
    meanwhile; the process digests the mapped rows as it appends them. PostgreSQL: one text COPY
    per chunk, its lines built by Arrow kernels. Otherwise (small tables, other databases):
    `insert_frame`."""

    def __init__(self, engine: Engine, target: Table, entity: str, rows: int) -> None:
        self.engine, self.target, self.entity = engine, target, entity
        self.columns = list(ENTITIES[entity].mapped_columns)
        self.names = [c.name for c in target.columns]
        self.digest = RowDigest()
        big = rows >= ARROW_MIN_ROWS and adbc_usable(engine)
        self.ingest = IngestProcess(str(engine.url.database), self._ingest_failed) if big else None

    def write(self, frame: pd.DataFrame, rejects: pd.DataFrame, rejects_table: Table) -> None:
        """One chunk's mapped rows (with their `_row_id`s) and its rejects."""
        if not frame.empty:
            batch = _arrow_batch(frame, self.names)
            if self.ingest is None:
                self.digest.update(batch, self.columns)
            digested = partial(_digested, self.target.name, self.columns)  # in the ingest process
            self._append(self.target, frame, batch, "mapped rows", digested)
        if not rejects.empty:
            names = [c.name for c in rejects_table.columns if c.name in rejects.columns]
            self._append(rejects_table, rejects, _arrow_batch(rejects, names), "rejects")

    def _append(self, target: Table, frame: pd.DataFrame, batch: pa.Table, label: str, prepare=None) -> None:
        if self.ingest is not None:  # rejects too: one writer, no wait for SQLite's write lock
            self.ingest.submit(target.name, batch, label, prepare)
        elif self.engine.dialect.name == "postgresql":
            copy_batch(self.engine, target.name, batch)
        else:
            insert_frame(self.engine, target, frame)

    def finish(self) -> tuple[str, int]:
        """Wait for the chunks in flight (their errors are raised here); the table's fingerprint."""
        if self.ingest is not None:  # one process writes the batches in the order they were sent
            return self.ingest.call(_digest_result, self.target.name, label="mapped rows")
        return self.digest.result()

    def close(self) -> None:
        if self.ingest is not None:
            self.ingest.stop()

    def _ingest_failed(self, failure: IngestFailure) -> SourceError:
        """The ingest process's failure, named for the entity and the rows it was writing."""
        detail = failure.detail or "the process writing them ended unexpectedly (killed, or out of memory)"
        hint = (
            "Run the map again."
            if failure.lost
            else "Free space or fix its permissions, then run the map again."
        )
        return SourceError(
            f"the work store failed: cannot write {self.entity}'s {failure.label} to "
            f"{mask_url(self.engine.url)}: {detail}.",
            hint=hint,
        )


def _arrow_batch(frame: pd.DataFrame, names: list[str]) -> pa.Table:
    """The mapped frame as Arrow in the table's column order: integers for `_row_id`/`_row`, text
    for the rest (the mapped columns are text already: no copy)."""
    arrays = []
    for name in names:
        values = frame[name]
        if name in ("_row_id", "_row"):
            arrays.append(_integer_array(values))
        elif values.dtype == TEXT:
            arrays.append(pa.array(values))
        else:
            arrays.append(text_array(values.to_numpy(dtype=object), nan_is_null=True))
    return pa.Table.from_arrays(arrays, names=names)


def _integer_array(values: pd.Series) -> pa.Array:
    try:
        return pa.array(values.to_numpy(), type=pa.int64(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # row numbers given as text: SQLite would store integers
        return pc.cast(text_array(_python_values(values), nan_is_null=True), pa.int64())


def copy_batch(engine: Engine, name: str, batch: pa.Table) -> None:
    """PostgreSQL: one text COPY of an Arrow batch (identifiers quoted by the dialect)."""
    quote = engine.dialect.identifier_preparer.quote
    sql = f"COPY {quote(name)} ({', '.join(quote(c) for c in batch.column_names)}) FROM STDIN"
    payload = text_lines(batch, batch.column_names, "\t", "\\N", escape=True)
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(sql) as copy:
            copy.write(payload)


_DIGESTS: dict[str, RowDigest] = {}  # in the ingest process: each table's digest so far


def _digested(table_name: str, columns: list[str], batch: pa.Table) -> pa.Table:
    """In the ingest process, before a batch of mapped rows is appended: its rows digested, in
    the order they were sent."""
    _DIGESTS.setdefault(table_name, RowDigest()).update(batch, columns)
    return batch


def _digest_result(table_name: str) -> tuple[str, int]:
    return _DIGESTS.pop(table_name, RowDigest()).result()
