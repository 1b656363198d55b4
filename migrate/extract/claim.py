"""One extract per source at a time, in the work store itself (not a lock file).

Two extracts of different sources run side by side; a second extract of a source that is
being extracted is refused, naming the holder, so the staged table is always one run's whole
output. PostgreSQL: a session advisory lock per source, which the server frees when the
holder's connection dies; the claim row only names the holder. Other stores (SQLite): the
claim row is the lock, taken inside BEGIN IMMEDIATE so two takers serialise, and taken over
when its holder is dead (same host, pid gone) or its expiry, renewed while rows are staged,
has passed (another host).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, Integer, MetaData, Table, Text, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from migrate.errors import CheckFailed
from migrate.extract.staging import store_error
from migrate.locks import process_alive, retry_for
from migrate.store import WorkStore

TTL = timedelta(minutes=10)
RENEW_SECONDS = 30.0

claims_table = Table(
    "stg__claims",  # `stg__`: no source name starts with `_`, so no `stg_<source>` clash
    MetaData(),
    Column("source", Text, primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def advisory_key(source: str) -> int:
    """A stable signed 64-bit key per source (PostgreSQL advisory locks take a bigint)."""
    digest = hashlib.sha256(f"migrate.extract:{source}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class ClaimHolder:
    host: str
    pid: int
    started_at: str
    expires_at: str

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}, started {self.started_at}"


class SourceClaim:
    """The claim on one source, held from `__enter__` to `__exit__`."""

    def __init__(self, store: WorkStore, source: str) -> None:
        self.store, self.source = store, source
        self.engine = store.engine
        self.host, self.pid = socket.gethostname(), os.getpid()
        self._lock_conn: Connection | None = None
        self._renewed = 0.0

    def __enter__(self) -> SourceClaim:
        try:
            try:
                claims_table.create(self.engine, checkfirst=True)
            except SQLAlchemyError:
                claims_table.create(self.engine, checkfirst=True)  # a concurrent first run created it
            if self.engine.dialect.name == "postgresql":
                self._acquire_advisory()
            else:
                self._acquire_row()
        except SQLAlchemyError as exc:  # full, read-only, unreachable: the store's error, located
            raise store_error(self.store, exc) from None
        self._renewed = time.monotonic()
        return self

    def __exit__(self, *_exc) -> None:
        self.release()

    def _refuse(self, holder: ClaimHolder | None) -> CheckFailed:
        who = holder.describe() if holder else "another process (it holds the database lock)"
        return CheckFailed(
            f"source {self.source} is being extracted by another run: {who}.",
            hint="Wait for it to finish, or stop it; a killed run frees the source by itself.",
        )

    def _holder(self, conn: Connection) -> ClaimHolder | None:
        cols = claims_table.c
        query = claims_table.select().with_only_columns(cols.host, cols.pid, cols.started_at, cols.expires_at)
        row = conn.execute(query.where(cols.source == self.source)).first()
        return ClaimHolder(*row) if row else None

    def _write(self, conn: Connection) -> None:
        now = _now()
        conn.execute(claims_table.delete().where(claims_table.c.source == self.source))
        conn.execute(
            claims_table.insert().values(
                source=self.source,
                host=self.host,
                pid=self.pid,
                started_at=_stamp(now),
                expires_at=_stamp(now + TTL),
            )
        )

    def _acquire_advisory(self) -> None:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        key = advisory_key(self.source)
        if not retry_for(lambda: conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()):
            holder = self._holder(conn)
            conn.close()
            raise self._refuse(holder)
        try:
            self._write(conn)
        except SQLAlchemyError:
            conn.close()  # closing the session frees the lock too
            raise
        self._lock_conn = conn  # the session holds the lock until release or death

    def _acquire_row(self) -> None:
        holder: ClaimHolder | None = None

        def attempt() -> bool:
            nonlocal holder
            with self.engine.connect() as conn:
                if self.engine.dialect.name == "sqlite":
                    conn.exec_driver_sql("BEGIN IMMEDIATE")  # serialise takers, not just writers
                holder = self._holder(conn)
                if holder is None or not self._live(holder):
                    self._write(conn)
                    conn.commit()
                    return True
                conn.rollback()
                return False

        if not retry_for(attempt):
            raise self._refuse(holder)

    def _live(self, holder: ClaimHolder) -> bool:
        if holder.host == self.host and holder.pid == self.pid:
            return False  # this process's own stale row
        if holder.host != self.host:
            return holder.expires_at > _stamp(_now())
        return process_alive(holder.pid)

    def renew(self) -> None:
        """Push a row claim's expiry forward (at most every RENEW_SECONDS); stop if it was lost."""
        if self._lock_conn is not None or time.monotonic() - self._renewed < RENEW_SECONDS:
            return
        cols = claims_table.c
        try:
            with self.engine.begin() as conn:
                done = conn.execute(
                    claims_table.update()
                    .where(cols.source == self.source, cols.host == self.host, cols.pid == self.pid)
                    .values(expires_at=_stamp(_now() + TTL))
                )
        except SQLAlchemyError as exc:
            raise store_error(self.store, exc) from None
        if done.rowcount != 1:
            raise CheckFailed(f"source {self.source}: this extract lost its claim to another run; stopped.")
        self._renewed = time.monotonic()

    def release(self) -> None:
        cols = claims_table.c
        mine = claims_table.delete().where(
            cols.source == self.source, cols.host == self.host, cols.pid == self.pid
        )
        try:
            if self._lock_conn is not None:
                self._lock_conn.execute(mine)
                self._lock_conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(self.source)}
                )
            else:
                with self.engine.begin() as conn:
                    conn.execute(mine)
        except SQLAlchemyError:
            pass  # the store is failing; a dead holder's row is taken over by the next run
        finally:
            if self._lock_conn is not None:
                self._lock_conn.close()
                self._lock_conn = None
