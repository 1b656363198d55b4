"""Arrow batches appended to tables of an SQLite file by the ADBC driver, in a process of its own.

The ADBC driver ingests Arrow about 4x faster than executemany, but it carries its own copy of
SQLite, and two copies in one process defeat each other's locks (see `sqlite_arrow.py`): so it
runs in one worker process, forked before the caller's data grows (`workers.frozen_heap`). Each
batch crosses as an Arrow file in the scratch directory (a big item in a pool's pipe would block
its feeder thread for good if the process were killed), at most two in flight, so the caller
makes the next batch meanwhile. Extract stages big sheets and tables through it, map writes its
mapped rows and rejects: it sits below both, and each names what failed in its own words.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from migrate.errors import MigrateError
from migrate.urls import redact
from migrate.workers import frozen_heap, scratch_dir, scratch_file, watch_parent, worker_context

IN_FLIGHT = 2  # batches written or waiting: the caller's memory holds about this many more


class IngestError(Exception):
    """The ingest process could not write (its driver's error, as text: it crosses processes)."""


@dataclass(frozen=True)
class IngestFailure:
    """Why a batch was not written, for the caller to word: `label` is what the caller called
    the batch when it sent it (a sheet, an entity's rejects); `detail` the driver's error,
    redacted and cut short, or "" when the process itself was lost (killed, out of memory)."""

    label: str
    detail: str

    @property
    def lost(self) -> bool:
        return not self.detail


class IngestProcess:
    """One ingest process appending batches to tables of the SQLite file `database`, in the order
    they were sent. A failure stops it and raises the caller's error, `failed(IngestFailure)`."""

    def __init__(self, database: str, failed: Callable[[IngestFailure], MigrateError]) -> None:
        self.database, self.failed = database, failed
        self.scratch = scratch_dir()
        self.pool = ProcessPoolExecutor(
            1, mp_context=worker_context(), initializer=watch_parent, initargs=(os.getpid(),)
        )
        with frozen_heap():
            self.pool.submit(int).result()  # fork now, while the caller holds no batch
        self.pending: deque[tuple[Future, str, str]] = deque()  # (job, its Arrow file, its label)

    def submit(self, table: str, batch: pa.Table, label: str, prepare: Callable | None = None) -> None:
        """Append `batch` to `table`; `prepare(batch)`, a picklable function, runs first in the
        ingest process and returns what is appended (lineage added, a digest updated)."""
        while len(self.pending) >= IN_FLIGHT:
            self._wait()
        path = scratch_file(self.scratch, ".arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, batch.schema) as writer:
            writer.write_table(batch)
        try:
            job = self.pool.submit(ingest_sqlite, self.database, table, path, prepare)
        except BrokenProcessPool:
            os.unlink(path)
            raise self._stopped(IngestFailure(label, "")) from None
        self.pending.append((job, path, label))

    def call(self, function: Callable, *args, label: str = ""):
        """`function(*args)` in the ingest process, once every batch sent is written (state the
        process kept while preparing them, such as a digest)."""
        self.flush()
        try:
            return self.pool.submit(function, *args).result()
        except BrokenProcessPool:
            raise self._stopped(IngestFailure(label, "")) from None

    def flush(self) -> None:
        """Wait for every batch in flight; the first failure is raised here."""
        while self.pending:
            self._wait()

    def _wait(self) -> None:
        job, path, label = self.pending.popleft()
        try:
            job.result()
        except IngestError as exc:
            raise self._stopped(IngestFailure(label, redact(str(exc))[:300])) from None
        except BrokenProcessPool:
            raise self._stopped(IngestFailure(label, "")) from None
        finally:
            Path(path).unlink(missing_ok=True)  # the ingest process removes it, unless it died first

    def _stopped(self, failure: IngestFailure) -> MigrateError:
        """The batches after a failed one are not written: the process is stopped first."""
        self.stop()
        return self.failed(failure)

    def stop(self) -> None:
        """End the process (the batch being written completes; those waiting are dropped) and
        remove the files of batches not written."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        for job, path, _ in self.pending:
            job.cancel()
            Path(path).unlink(missing_ok=True)
        self.pending.clear()


def ingest_sqlite(database: str, table: str, path: str, prepare: Callable | None = None) -> int:
    """In the ingest process: one batch (an Arrow file, removed once read), `prepare`d, appended
    to `table` by the ADBC SQLite driver in one transaction; its row count."""
    import adbc_driver_sqlite.dbapi as adbc

    try:
        with pa.memory_map(path) as source:
            batch = pa.ipc.open_file(source).read_all()
    finally:
        os.unlink(path)
    data = batch if prepare is None else prepare(batch)
    try:
        with adbc.connect(database) as conn:
            with conn.cursor() as cursor:
                cursor.execute("PRAGMA busy_timeout = 60000")  # a concurrent extract's chunk, a claim renewal
                cursor.adbc_ingest(table, data, mode="append")
            conn.commit()
    except Exception as exc:  # noqa: BLE001 - driver errors do not pickle; their text does
        raise IngestError(
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        ) from None
    return data.num_rows
