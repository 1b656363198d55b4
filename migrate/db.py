"""Engines and schema migrations for the target and the work store."""

from __future__ import annotations

import re
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from migrate.errors import ConfigError, TargetError
from migrate.urls import libpq_options, mask_url, parse_url, redact
from migrate.yamlio import excerpt

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
            options = libpq_options(url, "-c default_transaction_read_only=on")
            kwargs.setdefault("connect_args", {})["options"] = options
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


# What libpq says when a connection is refused (psycopg gives no SQLSTATE before the session
# starts), and what to do about each; the first that matches names the fault.
_CONNECT_FAULTS = (
    (
        re.compile(r"password authentication failed|no password supplied|authentication failed"),
        "Check the user and password in the URL (a ${{VAR}} in project.yaml: is it exported, "
        "with the right value?).",
    ),
    (
        re.compile(r'database "[^"]*" does not exist'),
        "Create the database (CREATE DATABASE) or correct its name at the end of the URL.",
    ),
    (
        re.compile(r'role "[^"]*" does not exist'),
        "Correct the user name in the URL, or create that role on the server.",
    ),
    (
        re.compile(r"Connection refused|could not translate host name|timeout expired|No route to host"),
        "Start the server, or correct the host and port in the URL.",
    ),
    (
        re.compile(r"permission denied for schema"),
        "Grant {user} the right to create tables (`GRANT CREATE ON SCHEMA public TO {user}`, or make "
        "{user} the database's owner), or use a user that has it.",
    ),
    (
        re.compile(r"permission denied for (table|relation|sequence)"),
        "Grant {user} the use of migrate's tables (`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES "
        "IN SCHEMA public TO {user}` and `GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {user}`), "
        "or use the user that ran `migrate db upgrade`.",
    ),
    (
        re.compile(r"permission denied|must be owner"),
        "Use the user that owns migrate's tables (the one that ran `migrate db upgrade`), or grant "
        "{user} the right named.",
    ),
    (
        re.compile(r"server closed the connection|terminating connection|the database system is"),
        "The server stopped or restarted: start it, then run the command again.",
    ),
)


def database_fault(url: URL | None, exc: DBAPIError, what: str = "the target") -> TargetError | None:
    """A connection, login or permission fault of a database as one located error naming what
    to do; None for any other error (a bug, or one its stage reports itself). Without `url`
    (the CLI's last net), the driver's message names the server."""
    said = " ".join(redact(str(exc.orig).split("\nLINE ")[0]).split())  # not the statement's text
    hints = [hint for pattern, hint in _CONNECT_FAULTS if pattern.search(said)]
    if not hints and (url is None or not isinstance(exc, OperationalError)):
        return None  # the last net knows no URL: a fault it cannot name stays an internal error
    user = (url.username if url is not None else None) or "the URL's user"
    return TargetError(
        f"cannot use {what} {mask_url(url)}: {excerpt(said, 400)}" if url is not None else excerpt(said, 400),
        hint=(hints[0] if hints else "Check that the database is running and the URL is right.").format(
            user=user
        ),
    )


@contextmanager
def database_faults(url: URL, what: str = "the target"):
    """Turn a connection, login or permission fault inside into `database_fault`'s error."""
    try:
        yield
    except DBAPIError as exc:
        fault = database_fault(url, exc, what)
        if fault is None:
            raise
        raise fault from None


@contextmanager
def _connected(engine: Engine, *, schema_change: bool = False):
    with database_faults(engine.url):
        with engine.connect() as connection:
            with _foreign_keys_off(connection, schema_change), connection.begin():
                yield connection


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

    if current(engine) is None:
        _refuse_tables_of_others(engine)
    with _connected(engine, schema_change=True) as connection, _known_revisions(engine, revision):
        command.upgrade(_alembic_config(connection), revision)
    return current(engine)


def _refuse_tables_of_others(engine: Engine) -> None:
    """A database without migrate's schema that holds tables of the model's names (another
    application's `supplier`): creating ours would fail half-way, on the first such name."""
    from migrate.model import metadata

    with database_faults(engine.url):
        clashing = sorted(set(inspect(engine).get_table_names()) & set(metadata.tables))
    if clashing:
        raise TargetError(
            f"the target {mask_url(engine.url)} already holds tables migrate did not create, with the "
            f"names of its own: {', '.join(clashing[:8])}{' …' if len(clashing) > 8 else ''}.",
            hint="Give migrate a database of its own (CREATE DATABASE), and point `target:` at it.",
        )


def downgrade(engine: Engine, revision: str) -> str | None:
    """Take the target's schema back to `revision` ("base" removes every table)."""
    from alembic import command

    with _connected(engine, schema_change=True) as connection, _known_revisions(engine, revision):
        command.downgrade(_alembic_config(connection), revision)
    return current(engine)


@contextmanager
def _known_revisions(engine: Engine, wanted: str):
    """alembic's "Can't locate revision": the target's (a newer migrate upgraded it) or the one asked for."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError:
        rev = current(engine)
        if rev is not None and not known_revision(rev):
            raise _newer_schema(engine, rev) from None
        raise ConfigError(
            f"no schema revision {excerpt(wanted)!r}: this migrate knows base to {head()}.",
            hint="Give one of those, `head` or a relative step such as -1.",
        ) from None


def known_revision(rev: str) -> bool:
    """Whether this version of migrate ships the schema revision `rev`."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    with create_engine("sqlite://").connect() as connection:
        try:
            return ScriptDirectory.from_config(_alembic_config(connection)).get_revision(rev) is not None
        except CommandError:
            return False


def _newer_schema(engine: Engine, rev: str) -> TargetError:
    return TargetError(
        f"the target {mask_url(engine.url)} is at schema revision {rev}, which this version of migrate "
        f"does not know (its newest is {head()}): a newer migrate upgraded it.",
        hint="Run the commands with that newer version of migrate, or point --target at another database.",
    )


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
    if rev is not None and rev != head() and not known_revision(rev):
        raise _newer_schema(engine, rev)
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
