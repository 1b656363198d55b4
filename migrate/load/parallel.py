"""One entity's chunks loaded on several PostgreSQL connections at once (`migrate load --jobs N`).

Exactly-once as on one connection (docs/guarantees.md#exactly-once-loads), with the
serialising rows taken out of the chunk's transaction:

- Chunks are numbered in `_row_id` order from the start of the mapped table, `chunk_size` rows
  each, so a pass's chunks are the same in every process that reads the same input (its
  fingerprint is checked before a resume). Each chunk's transaction holds its data rows, ledger
  rows, digest records and its own row in `migrate_load_chunk` (number, first and last `_row_id`,
  counters), all committed together; chunks commit in any order.
- Resume reads which chunks committed from the target only, and loads the others (the holes).
  A chunk that changed nothing writes nothing, as on one connection, and is simply done again.
- The entity's checkpoint row is written once, by the pass's last transaction, which also
  deletes the chunk rows: the sums of the committed chunks plus this process's unrecorded ones.
- The lease row is only read (FOR SHARE) by chunks: the advisory lock is the one-writer lock.
- A new row's id comes from a block drawn from the table's sequence while holding a short
  advisory lock, so a chunk's inserted ids stay one range (one ledger row) even while other
  connections insert (`_insert`).
- Rows of different chunks never share a natural key (map rejects duplicate keys), so a chunk's
  match against the target does not depend on another chunk's uncommitted rows; a duplicate
  key across chunks still meets the unique index (the second insert waits, then is refused).
- A lost connection is retried per chunk after reading back whether that chunk committed.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import replace

from migrate.errors import ConfigError, MigrateError
from migrate.load.connection import TargetConnection, connect, retryable
from migrate.load.control import (
    Checkpoint,
    ChunkRecord,
    read_checkpoint,
    read_chunks,
    write_chunk,
)
from migrate.load.engine import EntityLoader, LoadContext, read_ahead, read_source_chunks, refresh_statistics
from migrate.load.sql import EntitySql

IDS_LOCK = 0x6D69677261746532  # "migrate2": held only while a chunk draws its block of ids


class ParallelLoader(EntityLoader):
    """Loads one entity's chunks on `jobs` connections (PostgreSQL, upsert mode)."""

    def __init__(self, ctx: LoadContext, entity: str, jobs: int, open_pass: Checkpoint | None = None) -> None:
        super().__init__(ctx, entity)
        self.jobs = self.connections = jobs
        self.open_pass = open_pass  # an interrupted pass on several connections to resume
        self._sql = EntitySql(self.spec, "postgresql")
        self._local = threading.local()
        self._conns: list[TargetConnection] = []
        self._conns_lock = threading.Lock()

    @property
    def sql(self) -> EntitySql:
        return self._sql

    def _initial_state(self) -> Checkpoint:
        if self.open_pass is not None:
            return replace(self.open_pass, run_id=self.ctx.run_id)
        return replace(self._fresh(), chunked=True)

    def _reread(self, state: Checkpoint) -> Checkpoint:
        """After a lost connection: the pass finished if its checkpoint says so (its last
        transaction may have committed); otherwise `_chunks` reads the committed chunks again."""
        if self.ctx.faults.bug == "blind_retry":
            return state
        cp = read_checkpoint(self.ctx.connection(), self.entity)
        self.ctx.connection().rollback()
        if cp is not None and cp.pass_run_id == self.initial.pass_run_id and cp.status == "done":
            return cp
        return self.initial

    def _refused(self, exc: Exception, chunk: tuple[int, int] | None = None):
        return super()._refused(exc, chunk or getattr(self._local, "chunk", None))

    def _close_pass(self, conn: TargetConnection) -> None:
        conn.execute("DELETE FROM migrate_load_chunk WHERE entity = ?", (self.entity,))

    # -- the chunks, on several connections ----------------------------------------------
    def _chunks(self, state: Checkpoint, task) -> Checkpoint:
        if state.status == "done":
            return state
        conn = self.ctx.connection()
        committed = read_chunks(conn, self.entity, state.pass_run_id)
        conn.rollback()
        done = dict(committed)
        self.chunks_done = 0
        source = read_source_chunks(self.ctx.store, self.entity, -1, state.chunk_size)
        try:
            with closing(read_ahead(source)) as batches:
                last_row_id = self._load_holes(state, enumerate(batches), done, task)
        finally:
            self._close_connections()
        return replace(_counted(state, done), run_id=self.ctx.run_id, last_row_id=last_row_id)

    def _load_holes(self, state: Checkpoint, batches, done: dict[int, ChunkRecord], task) -> int:
        """Submit every chunk not yet committed, at most `jobs` in flight (memory stays flat);
        on a failure or a signal submit no more, let those in flight end, then raise.

        The first chunk runs alone, and the table's statistics are refreshed after it: planned
        on a table the statistics call empty, a chunk probes the natural key through the smaller
        foreign-key index, which holds the chunk in flight beside it, uncommitted: two first
        chunks of 50,000 rows cost 30-58 s of server CPU instead of 0.5 s."""
        pending: set[Future] = set()
        failure: BaseException | None = None
        last_row_id = state.last_row_id
        skip = set(done)
        if self.ctx.faults.bug == "resume_after_last_chunk" and done:  # seeded: holes left unfilled
            skip |= set(range(max(done)))
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="load-chunk") as pool:
            for no, rows in batches:
                last_row_id = rows[-1][0]
                if no in skip:
                    continue
                while len(pending) >= (self.jobs if self.chunks_done else 1) and failure is None:
                    failure = self._collect(pending, done, task)
                if failure is not None or self.ctx.stop.signal is not None:
                    break
                pending.add(pool.submit(self._chunk_with_retries, state, no, rows))
            while pending:
                failure = self._collect(pending, done, task) or failure
        if failure is not None:
            raise failure
        if self.ctx.stop.signal is not None:
            raise self._interrupted(_counted(state, done))
        return last_row_id

    def _collect(self, pending: set[Future], done: dict, task) -> BaseException | None:
        """Wait for a chunk in flight to end; note the ended ones, return the first failure."""
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        failure = None
        for future in finished:
            pending.discard(future)
            try:
                chunk = future.result()
            except BaseException as exc:  # noqa: BLE001 - raised once the chunks in flight end
                failure = failure or exc
                continue
            done[chunk.chunk_no] = chunk
            self.chunks_done += 1
            task.advance(chunk.inserted + chunk.updated + chunk.unchanged)
        if failure is None and finished:
            rows = sum(c.inserted + c.updated + c.unchanged for c in done.values())
            refresh_statistics(self.ctx.connection(), self.spec.table.name, rows)
        return failure

    # -- one chunk on this thread's connection --------------------------------------------
    def _connection(self) -> TargetConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.ctx.url)
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _close_connections(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()

    def _chunk_with_retries(self, state: Checkpoint, no: int, rows: list[tuple]) -> ChunkRecord:
        """A lost connection: reconnect, read back whether this chunk committed (its record),
        and only if not, do it again; bounded like the single-connection loop."""
        self._local.chunk = (no, rows[0][0] - 1)
        for attempt in range(1, self.ctx.max_retries + 2):
            try:
                return self._chunk_on(self._connection(), state, no, rows)
            except Exception as exc:
                self._drop_connection()
                if isinstance(exc, MigrateError):
                    raise
                if not retryable(exc):
                    raise self._refused(exc) from None
                if attempt > self.ctx.max_retries:
                    raise self._persistent_failure(state, attempt, exc) from None
                time.sleep(min(0.1 * 2**attempt, 2.0))
                committed = self._committed(state, no)
                if committed is not None:
                    return committed
        raise AssertionError("unreachable")  # pragma: no cover

    def _committed(self, state: Checkpoint, no: int) -> ChunkRecord | None:
        if self.ctx.faults.bug == "blind_retry":
            return None
        conn = self._connection()
        found = read_chunks(conn, self.entity, state.pass_run_id).get(no)
        conn.rollback()
        return found

    def _chunk_on(self, conn: TargetConnection, state: Checkpoint, no: int, rows: list[tuple]) -> ChunkRecord:
        """One chunk, one transaction: data, ledger, digests, its chunk record, counters."""
        faults = self.ctx.faults
        faults.at("before_begin", self.entity, no)
        conn.begin()
        try:
            self.ctx.lease.hold(conn)
            self._stage(conn, rows)
            inserted_ids, updated = self._upsert(conn, no, len(rows))
            faults.pause()
            faults.stall(self.entity, no)
            faults.at("after_data", self.entity, no)
            self._ledger_inserts(conn, no, inserted_ids)
            faults.at("after_ledger", self.entity, no)
            inserted = len(inserted_ids)
            chunk = ChunkRecord(
                no, rows[0][0], rows[-1][0], inserted, updated, len(rows) - inserted - updated
            )
            if not (inserted or updated):
                conn.rollback()  # nothing changed: write nothing (a crash just redoes a no-op)
                return chunk
            record = replace(state, run_id=self.ctx.run_id)
            self._commit(conn, no, lambda c: write_chunk(c, record, chunk))
        except BaseException:
            conn.rollback()
            raise
        self._after_commit(conn, no, lambda c: write_chunk(c, record, chunk))
        return chunk

    def _insert(self, conn: TargetConnection) -> list[int]:
        """New rows numbered from one block of the sequence: while several connections insert,
        ids drawn row by row interleave and split each chunk's ids into hundreds of ranges.
        The block is moved past in one statement (nextval then setval) under an advisory lock
        our connections share; drawing it with 50,000 nextval calls cost 0.24 s of server CPU
        per chunk. A writer outside the load drawing an id from this sequence within that one
        statement would get an id of the block: one of the two inserts then fails on the
        primary key, loudly (this chunk rolls back whole and a re-run draws a new block)."""
        new = int(conn.scalar("SELECT COUNT(*) FROM _typed WHERE _id IS NULL"))
        if new == 0:
            return []
        # Not released in a `finally`: after a failed setval (a user without UPDATE on the
        # sequence) the unlock fails too and hides why; the failed chunk's connection is
        # dropped, which releases the lock.
        conn.execute("SELECT pg_advisory_lock(?)", (IDS_LOCK,))
        hi = conn.scalar(
            "SELECT setval(s, nextval(s) + ? - 1) FROM CAST(pg_get_serial_sequence(?, 'id') AS regclass) s",
            (new, self.spec.table.name),
        )
        conn.execute("SELECT pg_advisory_unlock(?)", (IDS_LOCK,))
        lo = hi - new + 1
        conn.execute(self.sql.insert_numbered(), (lo,))
        return list(range(lo, hi + 1))


def _counted(state: Checkpoint, done: dict[int, ChunkRecord]) -> Checkpoint:
    """`state` with the committed chunks' number and counters (the pass's, whatever order they
    committed in)."""
    return replace(
        state,
        next_chunk=len(done),
        inserted=sum(c.inserted for c in done.values()),
        updated=sum(c.updated for c in done.values()),
        unchanged=sum(c.unchanged for c in done.values()),
    )


def check_jobs(jobs: int, backend: str) -> None:
    """Refuse a `--jobs` this target cannot take."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, not {jobs}.")
    if jobs > 1 and backend != "postgresql":
        raise ConfigError(
            f"--jobs {jobs} loads on several connections at once, which needs a PostgreSQL target; "
            "SQLite lets one connection write at a time.",
            hint="Leave --jobs out (or give 1) for a SQLite target.",
        )
