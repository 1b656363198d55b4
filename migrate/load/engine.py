"""The checkpointed chunk loop: exactly-once, resumable, idempotent, delta-aware.

Each chunk is one transaction holding its data rows, its ledger rows, its checkpoint and
its counters (RELIABILITY design rule 1), so a crash at any instant leaves the target
either before or after the whole chunk, and resume continues from the checkpoint it reads
back from the target. Rows are matched on the natural key: new rows inserted, changed
rows updated (before-image in the ledger), unchanged rows skipped.
"""

from __future__ import annotations

import itertools
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from migrate.errors import MigrateError, TargetError
from migrate.load import written
from migrate.load.connection import TargetConnection, connect, retryable
from migrate.load.control import Checkpoint, read_checkpoint, write_checkpoint
from migrate.load.faults import Faults
from migrate.load.lease import Lease
from migrate.load.refusals import classify, refused
from migrate.load.refused_row import RefusedRow, find_refused_row
from migrate.load.sql import EntitySql, q
from migrate.model import ENTITIES
from migrate.progress import NO_PROGRESS, Progress
from migrate.store import LINEAGE, WorkStore, mapped_table
from migrate.urls import mask_url, redact
from migrate.yamlio import excerpt


class LoadInterrupted(MigrateError):
    """SIGTERM/SIGINT: the current chunk committed or rolled back whole, then the load stopped."""


@dataclass(frozen=True)
class EntityResult:
    entity: str
    source_rows: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    chunks: int
    resumed_from: int | None
    seconds: float
    rejected_earlier: int | None = None
    connections: int = 1  # the target connections its chunks were loaded on at once

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted

    def to_dict(self) -> dict:
        return {**self.__dict__, "seconds": round(self.seconds, 3)}


@dataclass
class Stop:
    """Set by SIGTERM/SIGINT; the loop checks it between chunks."""

    signal: int | None = None


@contextmanager
def stop_on_signals() -> Iterator[Stop]:
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, _frame) -> None:
        stop.signal = signum

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@dataclass
class LoadContext:
    """What every entity's loader shares within one run."""

    url: URL
    store: WorkStore
    run_id: int
    mode: str
    chunk_size: int
    lease: Lease
    faults: Faults
    stop: Stop
    progress: Progress = NO_PROGRESS
    delete_missing: frozenset[str] = frozenset()
    restart: bool = False
    max_retries: int = 3
    conn: TargetConnection | None = None
    fingerprints: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def attached(self) -> bool:
        """SQLite target and SQLite work store: chunks move between them by SQL (ATTACH)."""
        store = self.store.engine.url
        return (
            self.url.get_backend_name() == "sqlite"
            and store.get_backend_name() == "sqlite"
            and store.database not in (None, "", ":memory:")
        )

    def connection(self) -> TargetConnection:
        if self.conn is None:
            self.conn = connect(self.url)
            if self.attached:
                self.conn.execute("ATTACH DATABASE ? AS ws", (self.store.engine.url.database,))
        return self.conn

    def drop_connection(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _store_paramstyle(engine: Engine) -> str:
    return "?" if engine.dialect.paramstyle == "qmark" else "%s"


def read_source_chunks(store: WorkStore, entity: str, after_row_id: int, size: int) -> Iterator[list[tuple]]:
    """Mapped rows after `after_row_id` in `_row_id` order, `size` at a time (deterministic chunks)."""
    cols = ", ".join(f'"{c}"' for c in ["_row_id", *ENTITIES[entity].mapped_columns])
    mark = _store_paramstyle(store.engine)
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(
            f'SELECT {cols} FROM "{mapped_table(entity)}" WHERE "_row_id" > {mark} ORDER BY "_row_id"',
            (after_row_id,),
        )
        while rows := cur.fetchmany(size):
            yield [tuple(r) for r in rows]
        cur.close()
    finally:
        raw.close()


def read_ahead(chunks: Iterator[list[tuple]]) -> Iterator[list[tuple]]:
    """`chunks`, each read by a worker thread while the caller works on the one before:
    the target executes a chunk's SQL while the work store reads the next (both wait outside
    the GIL). At most one chunk is read ahead; the source is closed in its own thread."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-read") as worker:
        upcoming = worker.submit(next, chunks, None)
        try:
            while (rows := upcoming.result()) is not None:
                upcoming = worker.submit(next, chunks, None)
                yield rows
        finally:
            upcoming.cancel()
            worker.submit(chunks.close).result()


def lineage(store: WorkStore, entity: str, row_id: int) -> dict:
    cols = ", ".join(f'"{c}"' for c in LINEAGE)
    with store.engine.connect() as c:
        row = c.execute(
            text(f'SELECT {cols} FROM "{mapped_table(entity)}" WHERE "_row_id" = :r'), {"r": row_id}
        ).first()
    return dict(zip(LINEAGE, row, strict=True)) if row else {}


def lineage_text(where: dict) -> str:
    """Where a mapped row came from, naming only what its source has: a database table has
    no file or sheet, a CSV no sheet."""
    parts = [
        f"{label} {where[key]}"
        for key, label in (("_source", "source"), ("_file", "file"), ("_sheet", "sheet"), ("_row", "row"))
        if where.get(key) is not None
    ]
    return ", ".join(parts) or "an unknown place (the work store has no lineage for it)"


def rejected_earlier(store: WorkStore, entity: str) -> int | None:
    """Rows map rejected for this entity in its latest run (None: map left no run record)."""
    if not store.has_table("map_runs"):
        return None
    with store.engine.connect() as c:
        value = c.execute(
            text('SELECT "rejected" FROM "map_runs" WHERE "entity" = :e ORDER BY "run_at" DESC LIMIT 1'),
            {"e": entity},
        ).scalar()
    return None if value is None else int(value)


def id_ranges(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted ids as inclusive ranges: a chunk's inserts are usually one range."""
    out: list[tuple[int, int]] = []
    for i in sorted(ids):
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def refresh_statistics(conn: TargetConnection, table: str, rows: int) -> None:
    """PostgreSQL, between chunks: ANALYZE the target table when its statistics count under half
    the `rows` this pass knows it holds. Statistics taken while a chunk's rows were still
    uncommitted say the table is empty (reltuples 0); the planner then probes the natural key
    through the smaller single-column foreign-key index, reading a twentieth of the table per
    staged row (measured: 58 s of server CPU for two 50,000-row chunks at 100k rows, not 0.5 s)."""
    if conn.dialect != "postgresql":
        return
    counted = conn.scalar("SELECT reltuples FROM pg_class WHERE oid = CAST(? AS regclass)", (table,))
    if counted is not None and counted < rows / 2:
        conn.execute(f"ANALYZE {q(table)}")
    conn.commit()


class EntityLoader:
    """Loads one entity: the chunk loop, then the finishing transaction."""

    def __init__(self, ctx: LoadContext, entity: str) -> None:
        self.ctx, self.entity = ctx, entity
        self.spec = ENTITIES[entity]
        self.fingerprint, self.total_rows = ctx.fingerprints[entity]
        self.started = time.monotonic()
        self.initial: Checkpoint | None = None
        self.latest: Checkpoint | None = None  # the last state this process committed or read back
        self.chunks_done = 0
        self.connections = 1

    @property
    def sql(self) -> EntitySql:
        return EntitySql(self.spec, self.ctx.connection().dialect)

    # -- state -----------------------------------------------------------------
    def _fresh(self) -> Checkpoint:
        return Checkpoint(
            entity=self.entity,
            pass_run_id=self.ctx.run_id,
            run_id=self.ctx.run_id,
            fingerprint=self.fingerprint,
            mode=self.ctx.mode,
            chunk_size=self.ctx.chunk_size,
            total_rows=self.total_rows,
        )

    def _initial_state(self) -> Checkpoint:
        cp = read_checkpoint(self.ctx.connection(), self.entity)
        self.ctx.connection().rollback()
        if cp and cp.status == "loading" and cp.mode == self.ctx.mode and not self.ctx.restart:
            return cp  # an interrupted pass: continue after its last committed chunk
        return self._fresh()

    def _reread(self, state: Checkpoint) -> Checkpoint:
        """After a lost connection: what the target says was committed, never what we believe."""
        if self.ctx.faults.bug == "blind_retry":
            return state
        cp = read_checkpoint(self.ctx.connection(), self.entity)
        self.ctx.connection().rollback()
        if (
            cp is not None
            and cp.pass_run_id == self.initial.pass_run_id
            and cp.fingerprint == self.fingerprint
        ):
            return cp
        return self.initial

    # -- the loop --------------------------------------------------------------
    def run(self) -> EntityResult:
        self.initial = self.latest = state = self._initial_state()
        resumed_from = state.next_chunk if state.pass_run_id != self.ctx.run_id else None
        task = self.ctx.progress.task(f"load {self.entity}", total=self.total_rows)
        task.advance(min(self.total_rows, state.next_chunk * state.chunk_size))
        attempts, progress_mark, reread = 0, (state.next_chunk, state.status), False
        while True:
            try:
                if reread:  # never retry blindly: the lost commit may have happened
                    state = self.latest = self._reread(self.latest)
                    reread = False
                state = self._chunks(state, task)
                state = self._finish(state)
                break
            except Exception as exc:
                if not retryable(exc):
                    self.ctx.drop_connection()
                    if isinstance(exc, MigrateError):
                        raise
                    raise self._refused(exc) from None
                self.ctx.drop_connection()
                state = self.latest
                attempts = 1 if (state.next_chunk, state.status) != progress_mark else attempts + 1
                progress_mark = (state.next_chunk, state.status)
                if attempts > self.ctx.max_retries:
                    raise self._persistent_failure(state, attempts, exc) from None
                time.sleep(min(0.1 * 2**attempts, 2.0))
                reread = True
        return EntityResult(
            entity=self.entity,
            source_rows=self.total_rows,
            inserted=state.inserted,
            updated=state.updated,
            unchanged=state.unchanged,
            deleted=state.deleted,
            chunks=self.chunks_done,
            resumed_from=resumed_from,
            seconds=time.monotonic() - self.started,
            rejected_earlier=rejected_earlier(self.ctx.store, self.entity),
            connections=self.connections,
        )

    def _refused(self, exc: Exception, chunk: tuple[int, int] | None = None) -> TargetError:
        """A database error that is not a passing loss of the connection: the chunk rolled back
        whole. Not about the rows (disk full, read-only...): fix that and resume. About the rows
        (a constraint): the message names the chunk's first row that breaks one (refused_row.py).
        `chunk`: (number, the _row_id before its first row), when it is not the next one."""
        if chunk is None and self.latest is not None:
            chunk = (self.latest.next_chunk, self.latest.last_row_id)
        at = chunk[0] if chunk else 0
        if not classify(exc).about_rows:
            return refused(
                exc,
                f"loading chunk {at} of {self.entity}",
                self.ctx.lease.command,
                "The chunk rolled back whole; earlier chunks stay committed.",
            )
        found = self._explain(chunk[1]) if chunk else None
        said = redact(str(exc)).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        what = f"{found.sentence()} (the database said: {said})" if found else redact(str(exc)).strip()[:300]
        return TargetError(
            f"the target refused chunk {at} of {self.entity}: {what}. "
            "The chunk rolled back whole; earlier chunks stay committed.",
            column=found.column if found else None,
            hint="Fix the mapped rows (`migrate map`), then run `migrate load --restart` (rows already "
            "loaded match on their natural keys, so nothing is loaded twice).",
        )

    def _explain(self, after_row_id: int) -> RefusedRow | None:
        if self.latest is None:
            return None
        try:
            return find_refused_row(self.ctx.store, self.entity, after_row_id, self.latest.chunk_size)
        except Exception:  # the diagnosis must never hide the database's own error
            return None

    def _persistent_failure(self, state: Checkpoint, attempts: int, exc: Exception) -> TargetError:
        last = f"chunk {state.next_chunk - 1}" if state.next_chunk else "none"
        return TargetError(
            f"lost the connection to the target {mask_url(self.ctx.url)} ({attempts} attempts) while "
            f"loading {self.entity} ({redact(str(exc)).strip()[:200]}). Last committed chunk of {self.entity}: "
            f"{last} ({state.inserted + state.updated + state.unchanged} of {self.total_rows} rows); "
            "the failed chunk left nothing behind.",
            hint=f"When the target is reachable again: {self._resume_hint()}",
            exit_code=1,
        )

    def _chunks(self, state: Checkpoint, task) -> Checkpoint:
        if state.status == "done" or self.ctx.mode == "replace":
            return state
        if self.ctx.attached:  # staged by SQL from the attached work store
            return self._chunk_loop(state, task, itertools.repeat(None))
        source = read_source_chunks(self.ctx.store, self.entity, state.last_row_id, state.chunk_size)
        with closing(read_ahead(source)) as batches:
            return self._chunk_loop(state, task, batches)

    def _chunk_loop(self, state: Checkpoint, task, batches: Iterator[list[tuple] | None]) -> Checkpoint:
        for rows in batches:
            new = self._chunk(state, rows)
            if new is None:
                break
            task.advance(new.rows_done - state.rows_done)
            state = self.latest = new
            self.chunks_done += 1
            refresh_statistics(self.ctx.connection(), self.spec.table.name, state.rows_done)
            if self.ctx.stop.signal is not None:
                raise self._interrupted(state)
        return state

    def _resume_hint(self) -> str:
        """The command that was interrupted, run again, resumes it (its phase or entities too:
        a bare `migrate load` would load every mapped entity)."""
        return f"Resume by running the same command again: {self.ctx.lease.command}"

    def _interrupted(self, state: Checkpoint) -> LoadInterrupted:
        name = signal.Signals(self.ctx.stop.signal).name
        return LoadInterrupted(
            f"stopped by {name} after chunk {state.next_chunk - 1} of {self.entity} "
            f"({state.inserted + state.updated + state.unchanged:,} of {self.total_rows:,} rows done); "
            "every chunk is either committed whole or not at all.",
            hint=self._resume_hint(),
            exit_code=128
            + self.ctx.stop.signal,  # what shells expect of a process stopped by a signal (130: Ctrl-C)
        )

    def _chunk(self, state: Checkpoint, rows: list[tuple] | None) -> Checkpoint | None:
        """One chunk, one transaction: data, ledger, checkpoint, counters (None: no rows left)."""
        conn, faults, no = self.ctx.connection(), self.ctx.faults, state.next_chunk
        faults.at("before_begin", self.entity, no)
        conn.begin()
        try:
            self.ctx.lease.renew(conn)
            faults.fill_disk(conn, self.entity, no)
            if rows is None:
                count, last_row_id = self._stage_attached(conn, state)
                if count == 0:
                    conn.rollback()
                    return None
            else:
                self._stage(conn, rows)
                count, last_row_id = len(rows), rows[-1][0]
            inserted_ids, updated = self._upsert(conn, no, count)
            faults.pause()
            faults.at("after_data", self.entity, no)
            self._ledger_inserts(conn, no, inserted_ids)
            faults.at("after_ledger", self.entity, no)
            new = state.advanced(
                self.ctx.run_id, last_row_id, len(inserted_ids), updated, count - len(inserted_ids) - updated
            )
            if not (inserted_ids or updated):
                conn.rollback()  # nothing changed: write nothing (a crash just redoes a no-op)
                return new
            self._commit(conn, no, lambda c: write_checkpoint(c, new))
        except BaseException:
            conn.rollback()
            raise
        self._after_commit(conn, no, lambda c: write_checkpoint(c, new))
        return new

    def _commit(
        self, conn: TargetConnection, no: int, checkpoint: Callable[[TargetConnection], None]
    ) -> None:
        """The end of a chunk's transaction: its checkpoint, then COMMIT (and the test faults)."""
        faults = self.ctx.faults
        if faults.bug != "checkpoint_after_commit":
            checkpoint(conn)
        faults.at("after_checkpoint", self.entity, no)
        if faults.active("lose_connection", self.entity, no):
            self._break_connection(conn)
        faults.kill_during(self.entity, no)
        conn.commit()

    def _after_commit(
        self, conn: TargetConnection, no: int, checkpoint: Callable[[TargetConnection], None]
    ) -> None:
        """After a chunk's COMMIT: only the test faults (and the seeded late checkpoint)."""
        faults = self.ctx.faults
        faults.at("after_commit", self.entity, no)
        if faults.active("lose_reply", self.entity, no):
            from migrate.load.connection import ConnectionLost

            raise ConnectionLost("injected: the commit succeeded but its reply was lost")
        if faults.bug == "checkpoint_after_commit":  # seeded: the checkpoint in a transaction of its own
            conn.begin()
            checkpoint(conn)
            conn.commit()

    def _break_connection(self, conn: TargetConnection) -> None:
        from migrate.load.connection import ConnectionLost

        if conn.dialect == "postgresql":
            killer = connect(self.ctx.url)
            killer.raw.autocommit = True
            killer.execute("SELECT pg_terminate_backend(?)", (conn.backend_pid,))
            killer.close()
            return  # the COMMIT that follows fails for real
        raise ConnectionLost("injected: the connection to the target broke before COMMIT")

    # -- set-based steps -------------------------------------------------------
    def _stage(self, conn: TargetConnection, rows: list[tuple], fresh: bool = True) -> None:
        sql = self.sql
        if fresh:
            if conn.dialect == "sqlite":
                for t in ("_raw", "_typed", "_changed", "_gone"):
                    conn.execute(f"DROP TABLE IF EXISTS temp.{t}")
            conn.execute(sql.raw_ddl())
        columns = ["_row_id", *sql.mapped]
        if conn.dialect == "postgresql":
            conn.stage("_raw", columns, rows, ["int8"] + ["text"] * len(sql.mapped))
        else:
            conn.stage("_raw", columns, rows)

    def _stage_attached(self, conn: TargetConnection, state: Checkpoint) -> tuple[int, int]:
        """Copy the next chunk from the attached work store by SQL: no Python row objects at all."""
        self._stage(conn, [])
        cols = ", ".join(f'"{c}"' for c in ["_row_id", *self.sql.mapped])
        cur = conn.execute(
            f'INSERT INTO temp._raw ({cols}) SELECT {cols} FROM ws."{mapped_table(self.entity)}" '
            'WHERE "_row_id" > ? ORDER BY "_row_id" LIMIT ?',
            (state.last_row_id, state.chunk_size),
        )
        if cur.rowcount == 0:
            return 0, state.last_row_id
        return cur.rowcount, int(conn.scalar("SELECT MAX(_row_id) FROM temp._raw"))

    def _resolve(self, conn: TargetConnection, no: int) -> None:
        """Cast and resolve the staged rows; refuse references map should have rejected."""
        sql = self.sql
        try:
            conn.execute(sql.typed_ddl())
        except Exception as exc:
            if retryable(exc):
                raise
            raise self._refused(exc) from None
        if conn.dialect == "sqlite":
            conn.execute("CREATE INDEX temp._typed_id ON _typed (_id)")
        for query, column in sql.unresolved():
            bad = conn.execute(query).fetchone()
            if bad:
                where = lineage(self.ctx.store, self.entity, bad[0])
                raise TargetError(
                    f"{self.entity}: {column} {excerpt(bad[1])!r} names no row in the target "
                    f"(mapped row {bad[0]}, from {lineage_text(where)}).",
                    column=column,
                    hint="Load the referenced entity first, or re-run `migrate map` (it rejects orphans).",
                )
        # Only rows matching one target row twice: duplicates among new rows hit the unique
        # constraint at insert, which names them (PostgreSQL: its DETAIL; SQLite: `_integrity`).
        dup = conn.execute(sql.duplicate(True)).fetchone()
        if dup:
            raise TargetError(
                f"{self.entity}: mapped rows {dup[0]} and {dup[1]} have the same natural key "
                f"({', '.join(self.spec.natural_key)}).",
                hint="Re-run `migrate map` (it rejects duplicate keys).",
            )

    def _upsert(self, conn: TargetConnection, no: int, n: int) -> tuple[list[int], int]:
        """Update changed rows (before-images first), insert new ones; returns (inserted ids, updated)."""
        sql = self.sql
        self._resolve(conn, no)
        conn.execute(sql.changed_ddl())
        updated = int(conn.scalar("SELECT COUNT(*) FROM _changed"))
        if updated:
            conn.execute(sql.ledger_before("update", "_changed"), (self.ctx.run_id, self.entity, no))
            conn.execute(sql.update())
        return self._insert(conn), updated

    def _insert(self, conn: TargetConnection) -> list[int]:
        sql = self.sql
        if conn.dialect == "postgresql":
            return [r[0] for r in conn.execute(sql.insert()).fetchall()]
        before = conn.scalar(f"SELECT COALESCE(MAX(id), 0) FROM {sql.table}")
        try:
            conn.execute(sql.insert())
        except sqlite3.IntegrityError as exc:
            raise self._integrity(conn, exc) from None
        # we hold the write lock: every id above the old maximum is one we just inserted
        return [r[0] for r in conn.execute(f"SELECT id FROM {sql.table} WHERE id > ?", (before,)).fetchall()]

    def _integrity(self, conn: TargetConnection, exc: Exception) -> TargetError:
        """A constraint refused the chunk's new rows: name duplicate natural keys if that is why."""
        dup = conn.execute(self.sql.duplicate(False)).fetchone()
        if dup:
            return TargetError(
                f"{self.entity}: mapped rows {dup[0]} and {dup[1]} have the same natural key "
                f"({', '.join(self.spec.natural_key)}).",
                hint="Re-run `migrate map` (it rejects duplicate keys).",
            )
        return self._refused(exc)

    def _ledger_inserts(self, conn: TargetConnection, no: int, ids: list[int]) -> None:
        if ids:
            ranges = id_ranges(ids)
            conn.executemany(
                "INSERT INTO migrate_load_ledger (run_id, entity, chunk_no, op, id_lo, id_hi) "
                "VALUES (?, ?, ?, 'insert', ?, ?)",
                [(self.ctx.run_id, self.entity, no, lo, hi) for lo, hi in ranges],
            )
            written.record(conn, self.entity, ranges)  # what the undo checks before it deletes

    # -- finishing: declared deletes, replace swap, done marker ----------------
    def _finish(self, state: Checkpoint) -> Checkpoint:
        if state.status == "done":
            return state
        replace_mode = self.ctx.mode == "replace"
        deleting = replace_mode or self.entity in self.ctx.delete_missing
        resumed = state.pass_run_id != self.ctx.run_id
        if not deleting and not resumed and state.changed_rows == 0:
            return replace(state, status="done")  # unchanged re-run: nothing to write
        conn, no = self.ctx.connection(), state.next_chunk
        conn.begin()
        try:
            self.ctx.lease.renew(conn)
            if deleting:
                state = self._swap(conn, state, replace_mode)
            state = replace(state, status="done", run_id=self.ctx.run_id)
            if state.changed_rows == 0 and not resumed:
                conn.rollback()
                return state
            write_checkpoint(conn, state)
            self._close_pass(conn)
            self.ctx.faults.at("after_checkpoint", self.entity, no)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return state

    def _close_pass(self, conn: TargetConnection) -> None:
        """In the finishing transaction, after the checkpoint: what else ends with the pass."""

    def _swap(self, conn: TargetConnection, state: Checkpoint, replace_mode: bool) -> Checkpoint:
        """In one transaction: stage the whole mapped table, then (replace) upsert it and delete
        what it no longer has. The old content stays whole until this commits."""
        sql, no = self.sql, state.next_chunk
        for i, rows in enumerate(read_source_chunks(self.ctx.store, self.entity, -1, self.ctx.chunk_size)):
            self._stage(conn, rows, fresh=i == 0)
            self.ctx.faults.at("after_data", self.entity, i)
        if state.total_rows == 0:
            self._stage(conn, [], fresh=True)
        if replace_mode:
            self._resolve(conn, no)
        else:
            conn.execute(sql.typed_ddl())
            if conn.dialect == "sqlite":
                conn.execute("CREATE INDEX temp._typed_id ON _typed (_id)")
        conn.execute(sql.gone_ddl(toolkit_only=not replace_mode), () if replace_mode else (self.entity,))
        if replace_mode:
            conn.execute(sql.changed_ddl())
            updated = int(conn.scalar("SELECT COUNT(*) FROM _changed"))
            if updated:
                conn.execute(sql.ledger_before("update", "_changed"), (self.ctx.run_id, self.entity, no))
                conn.execute(sql.update())
            ids = self._insert(conn)
            self._ledger_inserts(conn, no, ids)
            state = replace(
                state, inserted=len(ids), updated=updated, unchanged=state.total_rows - len(ids) - updated
            )
        deleted = int(conn.scalar("SELECT COUNT(*) FROM _gone"))
        if deleted:
            conn.execute(sql.ledger_before("delete", "_gone"), (self.ctx.run_id, self.entity, no))
            conn.execute(sql.delete())
        return replace(state, deleted=state.deleted + deleted, next_chunk=no + 1)
