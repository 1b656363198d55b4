"""T17: the database's refusals named for what they are, each with its own next step.

A full disk (SQLite's real SQLITE_FULL, reached by forbidding the chunk's connection to grow
the file) and a read-only target (SQLite: an immutable or read-only file; PostgreSQL: a
database in read-only mode) each get their own message and the command to run again, not
"fix the mapped rows" or "internal error"; once the cause is gone the load completes with
the content of an uninterrupted load."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from migrate.db import make_engine
from migrate.load import load
from tests.load.conftest import hashes
from tests.load.test_cli import project


def _migrate(root: Path, target: str, *args: str, fault: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("MIGRATE_LOAD_FAULT", None)
    if fault:
        env["MIGRATE_LOAD_FAULT"] = fault
    argv = [sys.executable, "-m", "migrate", "--project", str(root), "--target", target, *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)


def _reference(tmp_path: Path, store: str) -> dict[str, str]:
    """The content of one uninterrupted load of the same mapped rows."""
    from migrate import db

    url = f"sqlite:///{tmp_path / 'reference.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    load(url, store, chunk_size=500)
    return hashes(url)


def test_disk_full_mid_load_says_free_space_then_resume(sqlite_url, tmp_path):
    root = project(tmp_path, sqlite_url)
    full = _migrate(root, sqlite_url, "load", "--chunk-size", "500", fault="disk_full:2:process_parameter")
    message = " ".join(full.stderr.split())
    assert full.returncode == 2, full.stderr
    assert "disk is full while loading chunk 2 of process_parameter" in message
    assert "Free space on the target's disk, then run `migrate " in message  # the same command
    assert "load --chunk-size 500`" in message
    assert "Fix the mapped rows" not in message and "internal error" not in message
    resumed = _migrate(root, sqlite_url, "load", "--resume", "--chunk-size", "500")
    assert resumed.returncode == 0, resumed.stderr
    assert hashes(sqlite_url) == _reference(tmp_path, f"sqlite:///{root / '.migrate' / 'staging.db'}")


@contextmanager
def _read_only_file(path: Path):
    """A target file this process cannot write: immutable for root (which ignores modes)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o444)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o644)


@contextmanager
def _read_only_database(url: str):
    name = url.rpartition("/")[2]
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    try:
        yield
    finally:
        with admin.connect() as c:
            c.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        admin.dispose()


def test_read_only_target_is_named_and_a_rerun_completes(target_url, tmp_path):
    root = project(tmp_path, target_url)
    before = hashes(target_url)
    if target_url.startswith("sqlite"):
        read_only = _read_only_file(Path(target_url.removeprefix("sqlite:///")))
    else:
        read_only = _read_only_database(target_url)
    with read_only:
        refused = _migrate(root, target_url, "load", "--chunk-size", "500")
    message = " ".join(refused.stderr.split())
    assert refused.returncode == 2, refused.stderr
    assert "the target is read-only" in message and "Make the target writable" in message
    assert "internal error" not in message and "another run" not in message
    assert hashes(target_url) == before
    again = _migrate(root, target_url, "load", "--resume", "--chunk-size", "500")
    assert again.returncode == 0, again.stderr
    assert hashes(target_url) == _reference(tmp_path, f"sqlite:///{root / '.migrate' / 'staging.db'}")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("53100", "disk_full"),
        ("25006", "read_only"),
        ("42501", "permission"),
        ("55P03", "lock_timeout"),
        ("23505", "constraint"),
        ("57P01", "lost_connection"),
    ],
)
def test_postgres_states_are_classified(error, kind):
    import psycopg

    from migrate.load.refusals import classify

    exc = psycopg.errors.lookup(error)("x")
    assert classify(exc).kind == kind
