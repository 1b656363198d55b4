"""Shared fixtures: a real PostgreSQL (started from the machine's binaries), SQLite targets, a CLI runner."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from migrate.db import make_engine
from tests import pgserver

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pg_server():
    """URL of a PostgreSQL server: $MIGRATE_TEST_PG_URL (.ci/run sets it) or one started here."""
    given = os.environ.get("MIGRATE_TEST_PG_URL")
    if given:
        pgserver.wait_ready(given)
        yield given
        return
    if not pgserver.find_bin("initdb"):
        if IN_CI:
            pytest.fail("PostgreSQL tests are mandatory in CI, but no initdb/pg_ctl was found")
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine; install postgresql")
    directory = Path(tempfile.mkdtemp(prefix="migrate-pg-"))
    try:
        url = pgserver.start(directory)
        pgserver.wait_ready(url)
    except Exception as exc:  # noqa: BLE001 - the reason is shown
        pgserver.stop(directory)
        if IN_CI:
            pytest.fail(f"could not start the throwaway PostgreSQL: {exc}")
        pytest.skip(f"could not start a throwaway PostgreSQL: {exc}")
    yield url
    pgserver.stop(directory)


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = pg_server.rpartition("/")
    yield f"{base}/{name}"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'target.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target_url(request, tmp_path):
    """Each target test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'target.db'}"
    return request.getfixturevalue("pg_url")


def pytest_collection_modifyitems(config, items):
    """Slow runs (the 84-point crash sweep, large cases) only when asked for with `-m slow`."""
    if "slow" in (config.getoption("-m") or ""):
        return
    keep = [i for i in items if "slow" not in i.keywords]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if "slow" in i.keywords])
        items[:] = keep
