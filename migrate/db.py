"""Engines and schema migrations for the target and the work store."""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from migrate.errors import TargetError
from migrate.urls import mask_url, parse_url, redact

if TYPE_CHECKING:
    from alembic.config import Config

# alembic (with mako and pygments, 0.16 s CPU) is imported by the functions that use it: every
# command opens an engine here, and extract and map never look at the schema's revision.


def make_engine(url: URL | str, *, read_only: bool = False, **kwargs) -> Engine:
    """An engine for a target, a work store or (read_only) a legacy source.

    Targets and work stores on SQLite get their folder, WAL and foreign keys. A legacy
    source is opened read-only: SQLite with `mode=ro` and no pragmas (WAL alone rewrites
    the file header), PostgreSQL in read-only transactions — sources are never written to.
    """
    if isinstance(url, str):
        url = parse_url(url)
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("", "psycopg2"):
        url = url.set(drivername="postgresql+psycopg")  # the one PostgreSQL driver we ship
    sqlite_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if read_only:
        if sqlite_file:
            path = Path(url.database).resolve()
            kwargs["creator"] = lambda: sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        elif url.get_backend_name() == "postgresql":
            kwargs.setdefault("connect_args", {})["options"] = "-c default_transaction_read_only=on"
        return create_engine(url, **kwargs)
    if sqlite_file:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    _wal(cursor)
    cursor.close()


def _wal(cursor: sqlite3.Cursor, seconds: float = 5.0) -> None:
    """WAL mode. Switching needs the file to itself, and where waiting could deadlock SQLite
    refuses at once, without its busy wait ("database is locked"): six processes opening a
    fresh work store together failed one run in six. Try again for up to `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _alembic_config(connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "migrate:migrations")
    config.attributes["connection"] = connection
    return config


@contextmanager
def _connected(engine: Engine, *, schema_change: bool = False):
    try:
        with engine.connect() as connection:
            with _foreign_keys_off(connection, schema_change), connection.begin():
                yield connection
    except OperationalError as exc:
        raise TargetError(
            # the driver's message spans indented lines; one paragraph, as every error is
            f"cannot use the target {mask_url(engine.url)}: {' '.join(redact(str(exc.orig)).split())}",
            hint="Check that the database is running and the URL is right.",
        ) from None


@contextmanager
def _foreign_keys_off(connection, schema_change: bool):
    """SQLite: rebuilding a table in batch mode (DROP, then RENAME of the copy) needs foreign
    keys off, and the pragma only takes outside a transaction. When a revision ran, the
    references are checked (a scan: only then), and the pragma is on again after."""
    if not schema_change or connection.dialect.name != "sqlite":
        yield
        return
    from alembic.runtime.migration import MigrationContext

    before = MigrationContext.configure(connection).get_current_revision()
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
        if MigrationContext.configure(connection).get_current_revision() != before:
            bad = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if bad:
                raise TargetError(
                    f"the schema change left {len(bad)} rows with broken references (first: {bad[0]})."
                )
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the target's schema to `revision`; returns the revision now current."""
    from alembic import command

    with _connected(engine, schema_change=True) as connection:
        command.upgrade(_alembic_config(connection), revision)
    return current(engine)


def downgrade(engine: Engine, revision: str) -> str | None:
    """Take the target's schema back to `revision` ("base" removes every table)."""
    from alembic import command

    with _connected(engine, schema_change=True) as connection:
        command.downgrade(_alembic_config(connection), revision)
    return current(engine)


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with _connected(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    from alembic.script import ScriptDirectory

    with create_engine("sqlite://").connect() as connection:
        return ScriptDirectory.from_config(_alembic_config(connection)).get_current_head()


def require_schema(engine: Engine) -> None:
    """Refuse to work on a target whose schema is not at head, saying how to fix it."""
    try:
        rev = current(engine)
    except SQLAlchemyError as exc:  # pragma: no cover - connection problems are TargetError above
        raise TargetError(f"cannot read the schema version of {mask_url(engine.url)}: {exc}") from None
    if rev != head():
        raise TargetError(
            f"the target {mask_url(engine.url)} is at schema revision {rev or 'none'}, not {head()}.",
            hint="Run `migrate db upgrade` first.",
        )


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


def held_rows(engine: Engine) -> dict[str, int]:
    """Rows in each model table and the audit log, where there are any: what a downgrade would drop."""
    from sqlalchemy import func, select

    from migrate.model import MODEL_TABLES, audit_log

    present = set(inspect(engine).get_table_names())
    held = {}
    with engine.connect() as conn:
        for table in (*MODEL_TABLES, audit_log):
            if table.name in present:
                rows = conn.execute(select(func.count()).select_from(table)).scalar() or 0
                if rows:
                    held[table.name] = int(rows)
    return held
