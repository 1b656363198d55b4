"""Raw driver connections for the row path: sqlite3 and psycopg 3.

SQLAlchemy stays for schema and metadata; on the row path it costs 4x (sqlite3) to 12x
(COPY), so load talks to the drivers directly. SQL is written once with `?` placeholders
and translated for psycopg.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.engine import URL

from migrate.load.refusals import is_lost_connection
from migrate.load.written import register
from migrate.model import sqlite_timestamp
from migrate.urls import libpq_options


class ConnectionLost(Exception):
    """The connection to the target broke (real or injected); the chunk may or may not have committed."""


def retryable(exc: BaseException) -> bool:
    """A failure worth a reconnect-and-retry: the connection, not the data, went wrong."""
    if isinstance(exc, ConnectionLost):
        return True
    # not a full disk or a lock timeout (OperationalErrors too): retrying cannot help those
    psycopg = sys.modules.get("psycopg")  # imported by a PostgreSQL connection only (below)
    return psycopg is not None and isinstance(exc, psycopg.OperationalError) and is_lost_connection(exc)


class TargetConnection:
    """One raw connection to the target with explicit transactions."""

    dialect: str

    def begin(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        self.raw.commit() if self.dialect == "postgresql" else self.raw.execute("COMMIT")

    def rollback(self) -> None:
        try:
            self.raw.rollback() if self.dialect == "postgresql" else self.raw.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - rollback of a dead connection has nothing to undo
            pass

    def sql(self, text: str) -> str:
        return text

    def execute(self, text: str, params: Sequence = ()):
        cur = self.raw.cursor()
        cur.execute(self.sql(text), tuple(params))
        return cur

    def executemany(self, text: str, rows: Iterable[Sequence]) -> None:
        cur = self.raw.cursor()
        cur.executemany(self.sql(text), rows)

    def scalar(self, text: str, params: Sequence = ()):
        row = self.execute(text, params).fetchone()
        return None if row is None else row[0]

    def ts(self, value: datetime):
        """A timestamp parameter as the model stores it on this backend."""
        return sqlite_timestamp(value) if self.dialect == "sqlite" else value

    def close(self) -> None:
        try:
            self.raw.close()
        except Exception:  # noqa: BLE001
            pass


class SqliteConnection(TargetConnection):
    dialect = "sqlite"

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so the write lock is
        # taken when the chunk starts, not at its first write.
        self.raw = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        self.raw.execute("PRAGMA foreign_keys=ON")
        self.raw.execute("PRAGMA journal_mode=WAL")
        self.raw.execute("PRAGMA synchronous=NORMAL")
        self.raw.execute("PRAGMA temp_store=MEMORY")
        # 16 MB: enough for the index pages a chunk touches; more only grows with the target
        # (peak RSS at 1M rows must stay within 1.2x of 100k)
        self.raw.execute("PRAGMA cache_size=-16384")
        register(self.raw)  # the digest function of migrate_load_written

    def begin(self) -> None:
        self.raw.execute("BEGIN IMMEDIATE")

    def stage(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        marks = ", ".join("?" for _ in columns)
        cols = ", ".join(f'"{c}"' for c in columns)
        self.raw.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows)


class PostgresConnection(TargetConnection):
    dialect = "postgresql"

    def __init__(self, url: URL) -> None:
        import psycopg  # 0.2 s to import: not for commands on an SQLite target

        args = url.translate_connect_args(username="user", database="dbname")
        args.update({k: v for k, v in url.query.items() if isinstance(v, str) and k != "options"})
        self.raw = psycopg.connect(**args, autocommit=False, options=libpq_options(url, "-c TimeZone=UTC"))
        self.backend_pid = self.raw.info.backend_pid

    def begin(self) -> None:
        # psycopg opens the transaction implicitly at the first statement
        pass

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def stage(self, table: str, columns: Sequence[str], rows: list[tuple], types: Sequence[str]) -> None:
        cols = ", ".join(f'"{c}"' for c in columns)
        with self.raw.cursor() as cur:
            with cur.copy(f'COPY "{table}" ({cols}) FROM STDIN (FORMAT BINARY)') as copy:
                copy.set_types(list(types))
                for row in rows:
                    copy.write_row(row)


def connect(url: URL) -> TargetConnection:
    if url.get_backend_name() == "sqlite":
        return SqliteConnection(url.database)
    return PostgresConnection(url)
