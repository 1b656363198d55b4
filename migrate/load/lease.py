"""One writer per target (RELIABILITY design rule 3).

PostgreSQL: a session advisory lock, which the server frees when the holder's connection
dies (~0.3 s after kill -9); the lease row only names the holder. SQLite: the lease row is
the lock. It is taken inside BEGIN IMMEDIATE (so two takers serialise), carries pid, host
and an expiry renewed by every chunk, and is taken over when its holder is dead (same
host, pid gone) or its expiry has passed (another host).
"""

from __future__ import annotations

import os
import socket
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import URL

from migrate.errors import CheckFailed
from migrate.load.connection import PostgresConnection, SqliteConnection, TargetConnection, connect
from migrate.load.refusals import classify, refused
from migrate.locks import process_alive, retry_for
from migrate.model import utcnow

ADVISORY_KEY = 0x6D69677261746531  # "migrate1": one lock per target database
LEASE_TTL = timedelta(seconds=60)
_COLUMNS = "operator, host, pid, run_id, command, started_at, expires_at"


@dataclass(frozen=True)
class Holder:
    operator: str
    host: str
    pid: int
    run_id: int | None
    command: str
    started_at: str
    expires_at: str

    def describe(self) -> str:
        run = f"run {self.run_id}, " if self.run_id is not None else ""  # a rollback has no load run
        return (
            f"operator {self.operator} on host {self.host}, pid {self.pid}, {run}"
            f"started {self.started_at} (UTC), command `{self.command}`"
        )


def _alive(holder: Holder) -> bool:
    """Whether a same-host holder's process still runs."""
    if holder.host != socket.gethostname():
        return True  # cannot see it: trust the expiry
    return process_alive(holder.pid)


class Lease:
    """The one-writer lease on a target, held from `acquire` to `release`."""

    def __init__(self, url: URL, operator: str, command: str) -> None:
        self.url, self.operator, self.command = url, operator, command
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.run_id: int | None = None
        self._conn: TargetConnection | None = None

    def _holder(self, conn: TargetConnection) -> Holder | None:
        row = conn.execute(f"SELECT {_COLUMNS} FROM migrate_lease WHERE id = 1").fetchone()
        return None if row is None else Holder(*[str(v) if isinstance(v, datetime) else v for v in row])

    def _refuse(self, holder: Holder | None) -> CheckFailed:
        who = holder.describe() if holder else "another process (it holds the database lock)"
        return CheckFailed(
            f"the target is being written by another run: {who}.",
            hint="Wait for it to finish, or stop it; a killed holder frees the target by itself.",
        )

    def _write(self, conn: TargetConnection) -> None:
        now = utcnow()
        conn.execute(
            f"INSERT INTO migrate_lease (id, {_COLUMNS}) VALUES (1, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET operator = excluded.operator, host = excluded.host, "
            "pid = excluded.pid, run_id = excluded.run_id, command = excluded.command, "
            "started_at = excluded.started_at, expires_at = excluded.expires_at",
            (
                self.operator,
                self.host,
                self.pid,
                self.run_id,
                self.command[:500],
                conn.ts(now),
                conn.ts(now + LEASE_TTL),
            ),
        )

    def acquire(self) -> None:
        if self.url.get_backend_name() == "sqlite":
            self._acquire_sqlite()
        else:
            self._acquire_postgres()

    def _acquire_postgres(self) -> None:
        import psycopg  # imported by the connection below; not at import time (SQLite-only commands)

        conn = PostgresConnection(self.url)
        conn.raw.autocommit = True
        if not retry_for(lambda: conn.scalar("SELECT pg_try_advisory_lock(?)", (ADVISORY_KEY,))):
            holder = self._holder(conn)
            conn.close()
            raise self._refuse(holder)
        try:
            self._write(conn)
        except psycopg.Error as exc:  # a read-only database, a role without rights...
            conn.close()
            raise refused(exc, "taking the one-writer lease on the target", self.command) from None
        self._conn = conn  # the session holds the lock until release or death

    def _acquire_sqlite(self) -> None:
        # A short busy timeout: a refused writer must answer within 2 s even while the
        # holder is inside a chunk's write transaction.
        conn = None
        try:
            conn = SqliteConnection(self.url.database, timeout=1.5)
            try:
                conn.begin()
            except sqlite3.OperationalError as exc:
                if classify(exc).kind != "lock_timeout":
                    raise
                raise self._refuse(self._holder(conn)) from None
            holder = self._holder(conn)
            if holder is not None and self._live(holder):
                conn.rollback()
                raise self._refuse(holder)
            self._write(conn)
            conn.commit()
        except sqlite3.Error as exc:  # read-only, disk full, no permission: named, not "another run"
            raise refused(exc, "taking the one-writer lease on the target", self.command) from None
        finally:
            if conn is not None:
                conn.close()

    def _live(self, holder: Holder) -> bool:
        if holder.host == self.host and holder.pid == self.pid:
            return False  # our own stale row (same process, earlier run)
        if os.environ.get("MIGRATE_SEEDED_BUG") == "lease_without_expiry":
            return True
        expired = holder.expires_at < str(utcnow().strftime("%Y-%m-%d %H:%M:%S.%f"))
        return not expired and _alive(holder)

    def attach_run(self, conn: TargetConnection, run_id: int) -> None:
        """Name the run in the lease (inside the caller's transaction)."""
        self.run_id = run_id
        self.renew(conn)

    def renew(self, conn: TargetConnection) -> None:
        """Push the expiry forward inside a chunk's transaction; refuse if the lease was lost."""
        cur = conn.execute(
            "UPDATE migrate_lease SET expires_at = ?, run_id = ? WHERE id = 1 AND host = ? AND pid = ?",
            (conn.ts(utcnow() + LEASE_TTL), self.run_id, self.host, self.pid),
        )
        if cur.rowcount != 1:
            raise CheckFailed("this run lost its lease on the target (another run took it over); stopped.")

    def hold(self, conn: TargetConnection) -> None:
        """Inside a chunk's transaction on one of several connections (PostgreSQL): refuse if
        the lease is no longer ours, without writing its row (a row lock every chunk takes would
        serialise them). FOR SHARE: a takeover's write waits until these chunks commit, and the
        chunks after it see the new holder."""
        row = conn.execute(
            "SELECT 1 FROM migrate_lease WHERE id = 1 AND host = ? AND pid = ? FOR SHARE",
            (self.host, self.pid),
        ).fetchone()
        if row is None:
            raise CheckFailed("this run lost its lease on the target (another run took it over); stopped.")

    def release(self) -> None:
        """Give the target back. Called from `finally` blocks, so it never raises: on a dead
        session (server stopped, network gone, disk full) the error that brought us here is
        the one to report, and nothing is lost by failing to release. The advisory lock dies
        with its session; a lease row whose holder is gone is taken over by the next run."""
        conn = self._conn
        self._conn = None
        try:
            conn = conn or connect(self.url)
            if conn.dialect == "sqlite":
                conn.begin()
            conn.execute(
                "DELETE FROM migrate_lease WHERE id = 1 AND host = ? AND pid = ?", (self.host, self.pid)
            )
            if conn.dialect == "postgresql" and conn.raw.autocommit:
                conn.execute("SELECT pg_advisory_unlock(?)", (ADVISORY_KEY,))
            else:
                conn.commit()
        except Exception:  # noqa: BLE001 - see the docstring: never mask the run's own outcome
            pass
        finally:
            if conn is not None:
                conn.close()
