"""T2 lost connections, T5 two writers, T13 signals: on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from migrate.errors import CheckFailed, TargetError
from migrate.load import load
from migrate.load.faults import Faults
from migrate.urls import mask_url
from tests.load.conftest import hashes, scalar
from tests.load.mapped import make_store
from tests.load.test_crash import PP, check_point

ROWS, CHUNK = 6_000, 1_000


@pytest.fixture
def setup(targets, tmp_path):
    store = make_store(tmp_path / "store.db", ROWS)
    reference_url = targets.fresh()
    load(reference_url, store, chunk_size=CHUNK)
    return targets, store, hashes(reference_url)


def test_connection_lost_once_is_retried_after_rereading_the_checkpoint(setup):
    targets, store, reference = setup
    for fault in (f"lose_connection:2:{PP}", f"lose_reply:3:{PP}"):
        url = targets.fresh()
        load(url, store, chunk_size=CHUNK, faults=Faults(fault, "0", ""))
        assert check_point(url, reference, ROWS) == [], fault


def test_blind_retry_is_caught(setup):
    """Seeded bug: retrying without re-reading the checkpoint re-applies a committed chunk."""
    targets, store, reference = setup
    url = targets.fresh()
    load(url, store, chunk_size=CHUNK, faults=Faults(f"lose_reply:3:{PP}", "0", "blind_retry"))
    assert any("checkpoint counts" in p for p in check_point(url, reference, ROWS))


def test_persistent_connection_loss_exits_1_naming_the_last_chunk(setup):
    targets, store, reference = setup
    url = targets.fresh()
    with pytest.raises(TargetError) as info:
        load(url, store, chunk_size=CHUNK, faults=Faults(f"lose_connection:2+:{PP}", "0", ""), max_retries=2)
    message = info.value.message
    assert info.value.exit_code == 1
    assert mask_url(url) in message and "Last committed chunk of process_parameter: chunk 1" in message
    assert "running the same command again: migrate load" in message
    assert scalar(url, f"SELECT COUNT(*) FROM {PP}") == 2 * CHUNK  # no partial chunk visible
    load(url, store, chunk_size=CHUNK)
    assert check_point(url, reference, ROWS) == []


def _slow_load(url: str, store: str, slow: str, operator: str = "holder") -> None:
    load(
        url,
        store,
        chunk_size=CHUNK,
        faults=Faults("", slow, ""),
        operator=operator,
        command="migrate load --all",
    )


def _start(url: str, store: str, slow: str) -> multiprocessing.Process:
    process = multiprocessing.get_context("fork").Process(target=_slow_load, args=(url, store, slow))
    process.start()
    return process


def _wait_for(url: str, sql: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if scalar(url, sql):
                return
        except Exception:  # noqa: BLE001 - the table may be locked or not yet written
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {sql}")


def test_second_writer_is_refused_and_a_killed_holder_frees_the_target(setup):
    targets, store, reference = setup
    url = targets.fresh()
    holder = _start(url, store, "0.4")
    _wait_for(url, f"SELECT next_chunk FROM migrate_load_checkpoint WHERE entity = '{PP}'")
    started = time.monotonic()
    with pytest.raises(CheckFailed) as info:
        load(url, store, chunk_size=CHUNK, operator="second")
    assert time.monotonic() - started < 2.0
    message = info.value.message
    assert info.value.exit_code == 1
    assert f"pid {holder.pid}" in message and "operator holder" in message and os.uname().nodename in message
    assert "run " in message and "started 20" in message
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    killed = time.monotonic()
    while True:  # a new run gets in within 5 s of the kill
        try:
            load(url, store, chunk_size=CHUNK, operator="next")
            break
        except CheckFailed:
            assert time.monotonic() - killed < 5.0
            time.sleep(0.1)
    assert time.monotonic() - killed < 5.0
    assert check_point(url, reference, ROWS) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_chunk_commits_or_rolls_back_whole_then_exits(setup, signum):
    targets, store, reference = setup
    url = targets.fresh()
    process = _start(url, store, "0.5")
    _wait_for(url, f"SELECT next_chunk FROM migrate_load_checkpoint WHERE entity = '{PP}'")
    sent = time.monotonic()
    os.kill(process.pid, signum)
    process.join(10)
    assert process.exitcode == 1 and time.monotonic() - sent < 2.0
    done = scalar(url, f"SELECT next_chunk FROM migrate_load_checkpoint WHERE entity = '{PP}'")
    assert 0 < done < ROWS // CHUNK
    assert scalar(url, f"SELECT COUNT(*) FROM {PP}") == done * CHUNK  # whole chunks only
    assert scalar(url, "SELECT status FROM migrate_load_run ORDER BY id DESC LIMIT 1") == "interrupted"
    load(url, store, chunk_size=CHUNK)
    assert check_point(url, reference, ROWS) == []


def _stale_lease(url: str, host: str, pid: int, expires: str) -> None:
    import sqlite3

    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    with con:
        con.execute(
            "INSERT INTO migrate_lease VALUES (1, 'ghost', ?, ?, 7, 'migrate load', '2026-01-01 00:00:00.000000', ?)",
            (host, pid, expires),
        )
    con.close()


def test_sqlite_lease_of_a_dead_or_expired_holder_is_taken_over(sqlite_url, tmp_path, monkeypatch):
    from migrate import db

    store = make_store(tmp_path / "s.db", 100)
    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    engine.dispose()
    dead = multiprocessing.get_context("fork").Process(target=int)
    dead.start()
    dead.join()
    _stale_lease(sqlite_url, os.uname().nodename, dead.pid, "2999-01-01 00:00:00.000000")
    load(sqlite_url, store, operator="taker")  # same host, pid gone: taken over at once
    _stale_lease(sqlite_url, "other-host", 1, "2000-01-01 00:00:00.000000")
    load(sqlite_url, store, operator="taker")  # another host, expired
    _stale_lease(sqlite_url, "other-host", 1, "2999-01-01 00:00:00.000000")
    with pytest.raises(CheckFailed, match="operator ghost on host other-host, pid 1, run 7"):
        load(sqlite_url, store)  # another host, not expired: it may still be writing


def test_lease_without_expiry_is_caught(sqlite_url, tmp_path, monkeypatch):
    """Seeded bug: a lease that ignores expiry and liveness is never taken over from a dead holder."""
    from migrate import db

    store = make_store(tmp_path / "s.db", 100)
    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    engine.dispose()
    _stale_lease(sqlite_url, "other-host", 1, "2000-01-01 00:00:00.000000")
    monkeypatch.setenv("MIGRATE_SEEDED_BUG", "lease_without_expiry")
    with pytest.raises(CheckFailed):
        load(sqlite_url, store)
