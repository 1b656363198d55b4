"""T17 / T2: the PostgreSQL server stopped mid-load (`pg_ctl stop -m immediate`).

On a dedicated throwaway server (never the shared one): the load exits 1 or 2 saying it
lost the connection and how to resume — releasing the lease on the dead session must not
replace that with an internal error — and after a restart the resume gives the content of
an uninterrupted load."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from migrate import db
from migrate.db import make_engine
from migrate.load import load
from tests import pgserver
from tests.conftest import IN_CI
from tests.load.conftest import hashes
from tests.load.mapped import make_store

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_server():
    """A PostgreSQL server of this test's own, which it may stop and start."""
    if not pgserver.find_bin("initdb"):
        if IN_CI:
            pytest.fail("PostgreSQL tests are mandatory in CI, but no initdb/pg_ctl was found")
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl)")
    directory = Path(tempfile.mkdtemp(prefix="migrate-pg-lost-"))
    try:
        url = pgserver.start(directory)
        pgserver.wait_ready(url)
        yield directory, url
    finally:
        pgserver.stop(directory)


def _database(server: str, name: str) -> str:
    admin = make_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = f"{server.rpartition('/')[0]}/{name}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    return url


def _chunks_committed(url: str) -> int:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT next_chunk FROM migrate_load_checkpoint WHERE entity = 'process_parameter'"
            ).fetchone()
        return row[0] if row else 0
    except psycopg.Error:
        return 0


def test_server_stopped_mid_load_then_resume_after_restart(own_server, tmp_path):
    directory, server = own_server
    store = make_store(tmp_path / "store.db", 3_000)
    reference, target = _database(server, "reference"), _database(server, "target")
    load(reference, store, chunk_size=250)
    root = tmp_path / "proj"
    root.mkdir()
    (root / "project.yaml").write_text(f"name: x\nstaging: {store}\n")
    env = {**os.environ, "MIGRATE_LOAD_SLOW": "0.3", "COLUMNS": "200"}
    env.pop("MIGRATE_LOAD_FAULT", None)
    argv = [sys.executable, "-m", "migrate", "--project", str(root), "--target", target, "load"]
    proc = subprocess.Popen(
        [*argv, "--chunk-size", "250"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while _chunks_committed(target) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None, "the load ended before the server was stopped"
        pgserver.halt(directory)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    message = " ".join(err.split())
    assert proc.returncode in (1, 2), err
    assert "lost the connection" in message and "running the same command again" in message, err
    assert "internal error" not in message and "Traceback" not in err
    pgserver.restart(directory)
    pgserver.wait_ready(server)
    resumed = subprocess.run(
        [*argv, "--resume", "--chunk-size", "250"],
        env={**env, "MIGRATE_LOAD_SLOW": "0"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at" in resumed.stdout
    assert hashes(target) == hashes(reference)


_ROLLBACK = """
import sys
from migrate.errors import MigrateError
from migrate.rollback import rollback
from migrate.urls import parse_url
try:
    rollback(parse_url(sys.argv[1]), "start", operator="test", chunk_size=1)
except MigrateError as exc:
    print(exc.message, file=sys.stderr)
    sys.exit(exc.exit_code)
"""


def _rollback_chunks(url: str) -> int:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            return conn.execute("SELECT COALESCE(MAX(chunks), 0) FROM migrate_rollback_run").fetchone()[0]
    except psycopg.Error:
        return 0


def test_server_stopped_mid_rollback_then_rerun_is_exact(own_server, tmp_path):
    directory, server = own_server
    target = _database(server, "target")
    load(target, make_store(tmp_path / "store.db", 500), chunk_size=100)
    env = {**os.environ, "MIGRATE_LOAD_SLOW": "0.3"}
    env.pop("MIGRATE_LOAD_FAULT", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", _ROLLBACK, target],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _rollback_chunks(target) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None, "the rollback ended before the server was stopped"
        pgserver.halt(directory)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    message = " ".join(err.split())
    assert proc.returncode == 1, err
    assert "lost the connection" in message and "migrate rollback run --to start" in message, err
    pgserver.restart(directory)
    pgserver.wait_ready(server)
    again = subprocess.run(
        [sys.executable, "-c", _ROLLBACK, target],
        env={**env, "MIGRATE_LOAD_SLOW": "0"},
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    engine = make_engine(target)
    with engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM process_parameter")).scalar() == 0
        assert c.execute(text("SELECT COUNT(*) FROM migrate_load_ledger")).scalar() == 0
    engine.dispose()
