"""Writing `stg_<source>` tables, their column catalogue and the extract-run log.

Rows go to a side table `stg__new_<run>` chunk by chunk; the swap (drop the old table,
rename the side table, rewrite the catalogue, close the run) is one transaction, so a
reader sees the old rows or the new ones, never a half-written table.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from itertools import repeat

import psycopg
import pyarrow as pa
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    inspect,
    literal_column,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateTable

from migrate.errors import MigrateError, SourceError
from migrate.ingest import IngestFailure, IngestProcess
from migrate.store import WorkStore, normalize_header, staged_table
from migrate.urls import mask_url, redact

LINEAGE = ("_source", "_file", "_sheet", "_row", "_run")
# PostgreSQL holds 1,600 columns a table, SQLite 2,000 (by default); with the lineage columns
# a source's staged columns stay under both, and a wider sheet is refused before any write
MAX_STAGED_COLUMNS = 1500
MAX_NAME_BYTES = 60  # PostgreSQL cuts identifiers at 63 bytes; leave room for a suffix
SIDE_PREFIX = "stg__new_"

meta = MetaData()
columns_table = Table(
    "stg_columns",
    meta,
    Column("source", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("original", Text),
    PrimaryKeyConstraint("source", "position"),
)
runs_table = Table(
    "stg_runs",
    meta,
    Column("run_id", Integer, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("kind", Text),
    Column("file", Text),
    Column("fingerprint", Text),
    Column("spec_hash", Text),
    Column("started_at", Text),
    Column("finished_at", Text),
    Column("rows", BigInteger),
    Column("sheets", Text),  # JSON {sheet: rows}
    Column("skipped", Text),  # JSON {reason: rows}
    Column("warnings", Text),  # JSON [text]
    Column("status", Text),  # running | ok | failed
    Column("reader", Text),  # what read the rows: an unchanged source's next extract names it too
)
ADDED_RUN_COLUMNS = ("reader",)  # a work store from before gets them on its next extract


class StagingError(MigrateError):
    """The work store could not be written (full, read-only, unreachable)."""


def store_error(store: WorkStore, exc: Exception) -> StagingError:
    detail = redact(str(getattr(exc, "orig", exc) or exc)).strip().splitlines()[0][:300]
    return StagingError(
        f"cannot write the work store {mask_url(store.engine.url)}: {detail}.",
        hint="Free space or fix its permissions, then run the extract again; staged data is unchanged.",
    )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def ensure_catalog(store: WorkStore) -> None:
    """The catalogue tables, created once even by extracts starting together: IF NOT EXISTS under
    SQLite's write lock; on PostgreSQL under a transaction-scoped advisory lock (two concurrent
    CREATE TABLE IF NOT EXISTS can still collide there, on the row type's name)."""
    try:
        with store.engine.begin() as c:
            if c.dialect.name == "postgresql":
                c.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('migrate extract catalogue'))")
            elif c.dialect.name == "sqlite":
                c.exec_driver_sql("BEGIN IMMEDIATE")
            for table in meta.sorted_tables:
                c.execute(CreateTable(table, if_not_exists=True))
            have = {column["name"] for column in inspect(c).get_columns(runs_table.name)}
            for name in ADDED_RUN_COLUMNS:
                if name not in have:
                    c.exec_driver_sql(f"ALTER TABLE {runs_table.name} ADD COLUMN {name} TEXT")
    except SQLAlchemyError as exc:
        raise store_error(store, exc) from None


def last_ok_run(store: WorkStore, source: str) -> dict | None:
    if not store.has_table("stg_runs"):
        return None
    query = (  # every column the store has: one from before may lack ADDED_RUN_COLUMNS
        select(literal_column("*"))
        .select_from(runs_table)
        .where(runs_table.c.source == source, runs_table.c.status == "ok")
        .order_by(runs_table.c.run_id.desc())
        .limit(1)
    )
    with store.engine.connect() as c:
        row = c.execute(query).mappings().first()
    return dict(row) if row else None


def staged_columns(store: WorkStore, source: str) -> list[tuple[str, str]]:
    """(name, original) of a staged source, in position order."""
    if not store.has_table("stg_columns"):
        return []
    query = select(columns_table.c.name, columns_table.c.original).where(columns_table.c.source == source)
    with store.engine.connect() as c:
        return [tuple(r) for r in c.execute(query.order_by(columns_table.c.position))]


class StagingWriter:
    """Stages one source's rows for one run; `finish()` swaps them in atomically."""

    def __init__(
        self, store: WorkStore, source: str, kind: str, file: str | None, fingerprint_: str, spec_hash: str
    ):
        self.store, self.source, self.file = store, source, file
        self.engine = store.engine
        self.quote = self.engine.dialect.identifier_preparer.quote
        self.names: dict[tuple[str, int], str] = {}  # (normalized header, occurrence) -> staged name
        self.catalog: list[tuple[str, str]] = []  # (staged name, original) in position order
        self._insert_sql = ""
        self._insert_width = -1
        # Arrow chunks are inserted by one background thread: sqlite3 lets the GIL go while
        # SQLite steps, so the next chunk's values are made meanwhile (write_columns)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future | None = None
        # big sheets and tables (write_bulk) on an SQLite file: Arrow ingest by the ADBC driver,
        # about 4x faster than executemany, in a process of its own (migrate/ingest.py)
        self._ingester: IngestProcess | None = None
        try:
            self.run_id = self._open_run(kind, fingerprint_, spec_hash)
            self.side = f"{SIDE_PREFIX}{self.run_id}"
            self._drop_leftovers()
            self._create_side()
        except SQLAlchemyError as exc:
            raise store_error(store, exc) from None

    def _open_run(self, kind: str, fingerprint_: str, spec_hash: str) -> int:
        row = dict(
            source=self.source, kind=kind, file=self.file, fingerprint=fingerprint_, spec_hash=spec_hash
        )
        with self.engine.begin() as c:
            result = c.execute(runs_table.insert().values(**row, started_at=now(), status="running"))
            return int(result.inserted_primary_key[0])

    def _drop_leftovers(self) -> None:
        """Side tables of this source's runs that died before their swap (kill -9, disk full).
        Only this source's: another source's extract may be filling its own side table right
        now, and the caller holds this source's claim (extract/claim.py), so its are dead."""
        names = [n for n in inspect(self.engine).get_table_names() if n.startswith(SIDE_PREFIX)]
        query = select(runs_table.c.run_id).where(
            runs_table.c.source == self.source, runs_table.c.run_id != self.run_id
        )
        with self.engine.begin() as c:
            earlier = {f"{SIDE_PREFIX}{run_id}" for run_id in c.execute(query).scalars()} if names else set()
            for name in names:
                if name in earlier:
                    c.exec_driver_sql(f"DROP TABLE {self.quote(name)}")
            c.execute(
                runs_table.update()
                .where(runs_table.c.source == self.source, runs_table.c.run_id != self.run_id)
                .where(runs_table.c.status == "running")
                .values(status="failed")
            )

    def _create_side(self) -> None:
        pk_type = BigInteger().with_variant(Integer, "sqlite")
        table = Table(
            self.side,
            MetaData(),
            Column("_row_id", pk_type, primary_key=True, autoincrement=True),
            Column("_source", Text, nullable=False),
            Column("_file", Text),
            Column("_sheet", Text),
            Column("_row", BigInteger, nullable=False),
            Column("_run", Integer, nullable=False),
        )
        table.create(self.engine)

    def staged_names(self, header: list[str]) -> list[str]:
        """Staged column names for one sheet's header, adding columns the table lacks."""
        if len(header) > MAX_STAGED_COLUMNS or len(self.names) > MAX_STAGED_COLUMNS:
            raise SourceError(
                f"{self.file or self.source}: {max(len(header), len(self.names)):,} columns, more than a "
                f"staging table holds ({MAX_STAGED_COLUMNS:,}).",
                hint="Delete the empty or unused columns (or stage the sheet in parts), then extract again.",
            )
        seen: dict[str, int] = {}
        out, added = [], []
        for original in header:
            norm = normalize_header(original)
            seen[norm] = seen.get(norm, 0) + 1
            key = (norm, seen[norm])
            if key not in self.names:
                self.names[key] = self._new_name(norm, seen[norm])
                self.catalog.append((self.names[key], original))
                added.append(self.names[key])
            out.append(self.names[key])
        if added:
            self._add_columns(added)
        return out

    def _new_name(self, norm: str, occurrence: int) -> str:
        base = norm.encode()[:MAX_NAME_BYTES].decode(errors="ignore") or "column"
        taken = set(self.names.values()) | set(LINEAGE) | {"_row_id"}
        name = base if occurrence == 1 else f"{base}_{occurrence}"
        n = occurrence
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        return name

    def _add_columns(self, names: list[str]) -> None:
        self.flush()  # SQLite has one writer: the background insert ends first
        try:
            with self.engine.begin() as c:
                for name in names:
                    c.exec_driver_sql(
                        f"ALTER TABLE {self.quote(self.side)} ADD COLUMN {self.quote(name)} TEXT"
                    )
        except SQLAlchemyError as exc:
            raise store_error(self.store, exc) from None

    def write(self, sheet: str | None, names: list[str], rows: list[tuple]) -> None:
        """One chunk, one transaction: rows are (row number, *texts) in `names` order."""
        if not rows:
            return
        self.flush()
        lineage = (self.source, self.file, sheet)
        run = self.run_id
        self._insert(names, [(*lineage, r[0], run, *r[1:]) for r in rows])

    def _insert(self, names: list[str], records: Iterable[tuple]) -> None:
        columns = ["_source", "_file", "_sheet", "_row", "_run", *names]
        try:
            with self.engine.begin() as c:
                if self.engine.dialect.name == "postgresql":
                    self._copy(c, columns, records)
                else:
                    marks = ", ".join("?" * len(columns))
                    sql = f"INSERT INTO {self.quote(self.side)} ({', '.join(map(self.quote, columns))}) VALUES ({marks})"
                    # the driver's own executemany takes an iterator: no list of records is built
                    c.connection.driver_connection.cursor().executemany(sql, records)
        except (SQLAlchemyError, sqlite3.Error, psycopg.Error) as exc:  # COPY runs on the driver's cursor
            raise store_error(self.store, exc) from None

    def write_columns(self, sheet: str | None, names: list[str], numbers, columns: list) -> None:
        """One chunk given as Arrow columns (the xlsx fast path): row numbers, then one text
        column per name. Values become Python objects only here, column by column (to_pylist
        in C), and are bound by executemany: no per-row Python code runs."""
        if not len(numbers):
            return
        lists = [c.to_pylist() for c in columns]  # runs while the previous chunk is inserted
        self._insert_later(sheet, names, numbers.to_pylist(), lists)

    def write_lists(
        self, sheet: str | None, names: list[str], first: int, columns: list, *, bulk: bool = False
    ) -> None:
        """One chunk given as one sequence of texts per name (a database source), its rows
        numbered from `first`; inserted by the background thread as `write_columns` does, or
        (`bulk`: a big table, on an SQLite file) as Arrow by the ingest process (`write_bulk`)."""
        if not columns or not len(columns[0]):
            return
        n = len(columns[0])
        if bulk and self._sqlite_file() is not None:
            try:
                arrays = [pa.array(c, type=pa.string()) for c in columns]
            except (pa.ArrowException, UnicodeError):  # text Arrow cannot hold: bound as it is
                self.flush()  # rows stay in source order
            else:
                numbers = pa.array(range(first, first + n), type=pa.int64())
                self.write_bulk(sheet, names, numbers, arrays)
                return
        self._insert_later(sheet, names, range(first, first + n), columns)

    def _insert_later(self, sheet: str | None, names: list[str], numbers, columns: list) -> None:
        lineage = (repeat(self.source), repeat(self.file), repeat(sheet))
        records = zip(*lineage, numbers, repeat(self.run_id), *columns)
        self.flush_thread()  # one chunk in flight at most: memory stays at two chunks
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="staging")
        self._pending = self._pool.submit(self._insert, names, records)

    def write_bulk(self, sheet: str | None, names: list[str], numbers, columns: list) -> None:
        """Like write_columns, for many rows: on an SQLite file they go to the ingest process, which
        adds the lineage and appends them, at most two batches in flight; elsewhere (PostgreSQL
        COPY) as write_columns."""
        if self._sqlite_file() is None:
            self.write_columns(sheet, names, numbers, columns)
            return
        if not len(numbers):
            return
        self.flush_thread()
        self.start_bulk()
        batch = pa.Table.from_arrays([numbers, *columns], names=["_row", *names])
        lineage = (self.source, self.file, sheet, self.run_id)
        self._ingester.submit(self.side, batch, sheet or "", partial(_with_lineage, lineage))

    def start_bulk(self) -> None:
        """Start the ingest process (before a big sheet is read: a process forked later would
        keep private copies of the pages the parent then frees)."""
        database = self._sqlite_file()
        if self._ingester is None and database is not None:
            self._ingester = IngestProcess(database, self._ingest_failed)

    def _sqlite_file(self) -> str | None:
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        if url.query.get("mode") == "memory" or url.database.startswith("file:"):
            return None
        return url.database

    def _ingest_failed(self, failure: IngestFailure) -> StagingError:
        """The ingest process's failure, named for the file (or source) and sheet it was staging."""
        where = dict(file=self.file, sheet=failure.label or None)
        prefix = "" if self.file else f"source {self.source}: "
        store = f"{prefix}cannot write the work store {mask_url(self.engine.url)}"
        if failure.lost:  # killed, out of memory: the batches it took are not trusted
            return StagingError(
                f"{store}: the process staging the rows ended unexpectedly (killed, or out of memory).",
                hint="Run the extract again; staged data is unchanged.",
                **where,
            )
        return StagingError(
            f"{store}: {failure.detail}.",
            hint="Free space or fix its permissions, then run the extract again; staged data is unchanged.",
            **where,
        )

    def flush_thread(self) -> None:
        """Wait for the chunk being inserted in the background thread; its error is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def flush(self) -> None:
        """Wait for every write in flight (thread and ingest process); their errors are raised here."""
        self.flush_thread()
        if self._ingester is not None:
            self._ingester.flush()

    def mark(self) -> tuple[int, int]:
        """Where the staged rows and columns stand, for `undo`."""
        self.flush()
        with self.engine.connect() as c:
            top = c.exec_driver_sql(f"SELECT MAX(_row_id) FROM {self.quote(self.side)}").scalar()
        return int(top or 0), len(self.catalog)

    def undo(self, mark: tuple[int, int]) -> None:
        """Take back the rows and columns staged since `mark` (a sheet to be read again another way)."""
        self.flush()
        top, width = mark
        added = [name for name, _ in self.catalog[width:]]
        try:
            with self.engine.begin() as c:
                c.exec_driver_sql(f"DELETE FROM {self.quote(self.side)} WHERE _row_id > {int(top)}")
                for name in added:
                    c.exec_driver_sql(f"ALTER TABLE {self.quote(self.side)} DROP COLUMN {self.quote(name)}")
        except SQLAlchemyError as exc:
            raise store_error(self.store, exc) from None
        del self.catalog[width:]
        self.names = {key: name for key, name in self.names.items() if name not in added}

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._ingester is not None:
            self._ingester.stop()
            self._ingester = None

    def _copy(self, conn, columns: list[str], records: Iterable[tuple]) -> None:
        """PostgreSQL: binary-safe COPY, several times faster than INSERT batches."""
        cursor = conn.connection.driver_connection.cursor()
        sql = f"COPY {self.quote(self.side)} ({', '.join(map(self.quote, columns))}) FROM STDIN"
        with cursor.copy(sql) as copy:
            for record in records:
                copy.write_row(record)

    def set_fingerprint(self, fingerprint_: str) -> None:
        """A database source's fingerprint is known only once every row has been read."""
        with self.engine.begin() as c:
            c.execute(
                runs_table.update().where(runs_table.c.run_id == self.run_id).values(fingerprint=fingerprint_)
            )

    def finish(self, rows: int, sheets: dict, skipped: dict, warnings: list[str], reader: str) -> None:
        """Swap the side table in and close the run, in one transaction."""
        self.flush()
        self._stop_pool()
        target = staged_table(self.source)
        try:
            with self.engine.connect() as c:
                if self.engine.dialect.name == "sqlite":
                    c.exec_driver_sql("BEGIN IMMEDIATE")  # pysqlite would run the DDL outside any transaction
                c.exec_driver_sql(f"DROP TABLE IF EXISTS {self.quote(target)}")  # inside the swap
                c.exec_driver_sql(f"ALTER TABLE {self.quote(self.side)} RENAME TO {self.quote(target)}")
                c.execute(columns_table.delete().where(columns_table.c.source == self.source))
                if self.catalog:
                    c.execute(
                        columns_table.insert(),
                        [
                            dict(source=self.source, position=i, name=n, original=o)
                            for i, (n, o) in enumerate(self.catalog, 1)
                        ],
                    )
                c.execute(
                    runs_table.update()
                    .where(runs_table.c.run_id == self.run_id)
                    .values(
                        finished_at=now(),
                        rows=rows,
                        sheets=json.dumps(sheets, ensure_ascii=False),
                        skipped=json.dumps(skipped, ensure_ascii=False),
                        warnings=json.dumps(warnings, ensure_ascii=False),
                        reader=reader,
                        status="ok",
                    )
                )
                c.commit()
        except SQLAlchemyError as exc:
            raise store_error(self.store, exc) from None

    def abandon(self, status: str = "failed") -> None:
        """Drop the side table; the staged table keeps its previous rows."""
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - the run is failing already; its first error is reported
            pass
        self._stop_pool()
        try:
            with self.engine.begin() as c:
                c.exec_driver_sql(f"DROP TABLE IF EXISTS {self.quote(self.side)}")
                c.execute(
                    runs_table.update()
                    .where(runs_table.c.run_id == self.run_id)
                    .values(finished_at=now(), status=status)
                )
        except SQLAlchemyError:
            pass  # the store itself is failing; the leftover side table is dropped by the next run


def _with_lineage(lineage: tuple, batch: pa.Table) -> pa.Table:
    """In the ingest process: a staged batch (`_row`, then the texts) with the lineage columns,
    (source, file, sheet, run) repeated per row: made there, not in the extract's process."""
    source_name, file, sheet, run = lineage
    n = batch.num_rows
    constant = [pa.repeat(pa.scalar(value, pa.string()), n) for value in (source_name, file, sheet)]
    arrays = [*constant, batch.column(0).combine_chunks(), pa.repeat(pa.scalar(run, pa.int64()), n)]
    arrays += [column.combine_chunks() for column in batch.columns[1:]]
    return pa.Table.from_arrays(arrays, names=[*LINEAGE, *batch.column_names[1:]])
