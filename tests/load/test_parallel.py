"""A load on several PostgreSQL connections (`jobs`): the same target as one connection, exactly
once under kill -9 at any point of any worker's chunk, holes filled on resume, exact rollback.

The crash sweeps reuse T1's machinery (test_crash): a real SIGKILL of a forked loader whose
chunks run on two connections, then a resume that reads what committed from the target only.
"""

from __future__ import annotations

import pytest

from migrate.db import make_engine
from migrate.errors import ConfigError
from migrate.load import load
from migrate.load.faults import CRASH_POINTS, Faults
from migrate.phase import EntityState, entity_states
from migrate.rollback import rollback
from migrate.urls import parse_url
from tests.load.conftest import hashes, scalar
from tests.load.mapped import make_store
from tests.load.test_crash import PARENTS, PP, check_point, crash, double_faults, seeded, sweep

pytestmark = pytest.mark.postgres
ROWS, CHUNK = 20_000, 5_000


@pytest.fixture
def target_url(pg_url):
    """These loads need PostgreSQL: the shared fixtures' `target`, on PostgreSQL only."""
    return pg_url


@pytest.fixture
def store20k(tmp_path) -> str:
    return make_store(tmp_path / "store.db", ROWS)


def test_several_connections_load_what_one_does(targets, store20k):
    """Three connections: same content hash, counters and one ledger range per chunk (ids drawn
    row by row interleave: 399-510 ranges for these 20 chunks in three runs without the blocks); nothing left in
    migrate_load_chunk; an unchanged re-run writes nothing."""
    one, three = targets.fresh(), targets.fresh()
    load(one, store20k, chunk_size=CHUNK)
    result = load(three, store20k, chunk_size=1_000, jobs=3)
    assert hashes(three) == hashes(one)
    pp = next(e for e in result.entities if e.entity == PP)
    assert (pp.inserted, pp.updated, pp.unchanged, pp.chunks) == (ROWS, 0, 0, 20)
    assert check_point(three, hashes(one), ROWS) == []
    ranges = "SELECT COUNT(*) FROM migrate_load_ledger WHERE entity = :e AND op = 'insert'"
    assert scalar(three, ranges, e=PP) == 20
    assert scalar(three, "SELECT COUNT(*) FROM migrate_load_chunk") == 0
    seq = "SELECT MAX(seq) FROM migrate_load_ledger"
    before = scalar(three, seq)
    assert load(three, store20k, chunk_size=1_000, jobs=3).nothing_to_do
    assert scalar(three, seq) == before


def test_jobs_refused_on_sqlite_and_below_one(sqlite_url, tmp_path):
    store = make_store(tmp_path / "s.db", 10)
    with pytest.raises(ConfigError, match="needs a PostgreSQL target"):
        load(sqlite_url, store, jobs=2)
    with pytest.raises(ConfigError, match="at least 1"):
        load(sqlite_url, store, jobs=0)


def test_kill_9_in_either_worker_then_resume(targets, store20k):
    """Kill at every named point of chunk 1 while another connection has chunk 0 or 2 in
    flight, then resume on two connections: each the reference content, 0 duplicates, 0 lost,
    exact counters and ledger (every point of every chunk, on 2 and 3 connections: slow run)."""
    assert sweep(targets, store20k, ROWS, CHUNK, jobs=2, chunks=(1,)) == {}


def test_sweep_catches_a_chunk_record_committed_after_its_chunk(targets, store20k):
    """Seeded bug: the chunk's record committed in its own transaction after the data. A kill
    between the two leaves rows the resume does again (as unchanged): the counters say so."""
    failures = sweep(
        targets,
        store20k,
        ROWS,
        CHUNK,
        bug="checkpoint_after_commit",
        points=("after_commit",),
        jobs=2,
        chunks=(1, 2),
    )
    assert set(failures) == {"after_commit:1", "after_commit:2"}
    assert all("checkpoint counts" in " ".join(p) for p in failures.values())


def _hole(targets, store: str, bug: str = "") -> tuple[str, list[str]]:
    """Chunk 1 held uncommitted (stall) while chunk 2 commits, then kill -9: a hole to fill."""
    url = targets.fresh()
    assert crash(url, store, CHUNK, f"stall:1:{PP},after_commit:2:{PP}", bug, jobs=2) == -9
    committed = scalar(
        url, "SELECT string_agg(chunk_no::text, ',' ORDER BY chunk_no) FROM migrate_load_chunk"
    )
    return url, committed


def test_resume_fills_the_hole_an_earlier_chunk_left(targets, store20k, monkeypatch):
    """Chunks 0 and 2 committed, chunk 1 did not: resume must load chunk 1, not continue after 2.
    With the seeded bug (resume after the highest committed chunk, as a single checkpoint
    would) chunk 1's 5,000 rows are lost and the check says so."""
    seeded(targets, store20k)
    reference_url = targets.fresh()
    load(reference_url, store20k, [PP], chunk_size=CHUNK)
    reference = hashes(reference_url)
    url, committed = _hole(targets, store20k)
    assert committed == "0,2"
    engine = make_engine(parse_url(url))  # phase status sees the open pass, not the checkpoint before it
    assert entity_states(engine, (PP,)) == (EntityState(PP, "interrupted", 2 * CHUNK),)
    load(url, store20k, [PP], chunk_size=CHUNK)  # jobs=1: the open pass is resumed in its own form
    assert check_point(url, reference, ROWS) == []
    assert entity_states(engine, (PP,))[0].state == "loaded"
    engine.dispose()
    monkeypatch.setenv("MIGRATE_SEEDED_BUG", "resume_after_last_chunk")
    url, committed = _hole(targets, store20k)
    assert committed == "0,2"
    load(url, store20k, [PP], chunk_size=CHUNK, jobs=2)
    assert f"{ROWS - CHUNK} rows, not {ROWS}" in check_point(url, reference, ROWS)


def test_the_first_chunk_commits_before_the_others_begin(targets, store20k):
    """On a table its statistics call empty the planner probes the natural key through the
    smaller foreign-key index; a chunk doing so beside another chunk's uncommitted rows reads a
    twentieth of them per staged row (measured: 30-58 s of server CPU for the first two 50,000-row
    chunks instead of 0.5 s). So the first chunk runs alone and the statistics are refreshed
    before the others begin: with chunk 0 stalled uncommitted, chunk 1 cannot commit before it.
    Fails when all chunks start at once (only chunk 1 committed at the kill)."""
    seeded(targets, store20k)
    url = targets.fresh()
    assert crash(url, store20k, CHUNK, f"stall:0:{PP},after_commit:1:{PP}", jobs=2) == -9
    committed = scalar(
        url, "SELECT string_agg(chunk_no::text, ',' ORDER BY chunk_no) FROM migrate_load_chunk"
    )
    assert committed in ("0,1", "0,1,2")
    assert scalar(url, "SELECT reltuples FROM pg_class WHERE relname = 'process_parameter'") >= CHUNK


PARALLEL_DOUBLE = [(f"{first}:1", f"{second}:3") for first in CRASH_POINTS for second in CRASH_POINTS]


def test_double_faults_on_two_connections(targets, store20k):
    """Crash in chunk 1, crash again in chunk 3 of the resume, resume cleanly: 5 of the 36 pairs
    (mixed points); all 36 in the slow run."""
    pairs = [PARALLEL_DOUBLE[i] for i in (2, 11, 19, 27, 34)]
    assert double_faults(targets, store20k, pairs, jobs=2) == {}


def test_lost_connections_are_retried_after_reading_back_the_chunk(targets, store20k):
    """A chunk whose connection breaks before COMMIT, another whose COMMIT reply is lost: each
    worker reconnects and asks the target whether its chunk committed before doing it again.
    With the seeded blind retry the lost reply's chunk is done twice (counted as unchanged)."""
    seeded(targets, store20k)
    reference_url = targets.fresh()
    load(reference_url, store20k, [PP], chunk_size=CHUNK)
    reference = hashes(reference_url)
    faults = f"lose_connection:1:{PP},lose_reply:2:{PP}"
    url = targets.fresh()
    load(url, store20k, [PP], chunk_size=CHUNK, jobs=2, faults=Faults(faults, "0", ""))
    assert check_point(url, reference, ROWS) == []
    blind = targets.fresh()
    load(blind, store20k, [PP], chunk_size=CHUNK, jobs=2, faults=Faults(faults, "0", "blind_retry"))
    assert any("checkpoint counts" in p for p in check_point(blind, reference, ROWS))


def test_rollback_of_a_parallel_load_and_of_an_interrupted_one(targets, store20k):
    """Rolled back to the start, a load on two connections leaves the start's hashes. After a
    kill -9 mid-pass, the rollback must drop the pass's chunk records too, or the next load
    resumes that pass, skips the chunks they name and loses those rows (fails without the
    DELETE in rollback/engine.py)."""
    url = targets.fresh()
    load(url, store20k, chunk_size=CHUNK, jobs=2)
    loaded = hashes(url)
    assert rollback(parse_url(url), "start", operator="test", chunk_size=1_000).exact
    assert scalar(url, "SELECT COUNT(*) FROM process_parameter") == 0
    interrupted = targets.fresh()
    load(interrupted, store20k, PARENTS, chunk_size=CHUNK)
    assert crash(interrupted, store20k, CHUNK, f"after_commit:1:{PP}", jobs=2) == -9
    assert scalar(interrupted, "SELECT COUNT(*) FROM migrate_load_chunk") >= 1
    assert rollback(parse_url(interrupted), "start", operator="test", chunk_size=1_000).exact
    load(interrupted, store20k, chunk_size=CHUNK, jobs=2)
    assert hashes(interrupted) == loaded


@pytest.mark.slow
def test_full_sweep_on_two_and_three_connections(targets, store20k):
    """Every point of every chunk with 2 connections, then with 3 (chunks of 2,500: 8 chunks)."""
    assert sweep(targets, store20k, ROWS, CHUNK, jobs=2) == {}
    assert sweep(targets, store20k, ROWS, 2_500, jobs=3) == {}


@pytest.mark.slow
def test_all_double_faults_on_two_connections(targets, store20k):
    assert double_faults(targets, store20k, PARALLEL_DOUBLE, jobs=2) == {}


def _stopped_load(url: str, store: str, out: str) -> None:
    """A slow load on two connections in a forked process; its interruption's text to `out`."""
    from pathlib import Path

    from migrate.load.engine import LoadInterrupted

    try:
        load(
            url,
            store,
            chunk_size=CHUNK,
            jobs=2,
            faults=Faults("", "0.4", ""),
            command="migrate load --phase p",
        )
    except LoadInterrupted as exc:
        Path(out).write_text(f"{exc.message}\n{exc.hint}")
        raise SystemExit(1) from None


def test_a_stop_on_several_connections_counts_the_chunks_that_committed(targets, store20k, tmp_path):
    """Ctrl-C while chunks load on two connections: the message counts the rows of the chunks
    that committed (it said 0 while 5,000 were in) and says to run the same command again (it
    said `migrate load --resume`, which drops the phase). Fails with either old text."""
    import multiprocessing
    import os
    import signal
    import time

    url, out = targets.fresh(), tmp_path / "message.txt"
    process = multiprocessing.get_context("fork").Process(
        target=_stopped_load, args=(url, store20k, str(out))
    )
    process.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not scalar(url, f"SELECT COUNT(*) FROM {PP}"):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGINT)
    process.join(30)
    committed = scalar(url, f"SELECT COUNT(*) FROM {PP}")
    assert process.exitcode == 1 and 0 < committed < ROWS
    text = out.read_text()
    assert f"({committed:,} of {ROWS:,} rows done)" in text, text
    assert "Resume by running the same command again: migrate load --phase p" in text, text


def test_a_url_with_its_own_options_keeps_them_and_the_time_zone(pg_url):
    """A target URL with libpq `options` (a search_path, an application name) connected with a
    TypeError before (two `options` arguments); both now hold."""
    from migrate.load.connection import connect

    conn = connect(parse_url(pg_url + "?options=-c%20application_name%3Dmigrate-test"))
    try:
        assert conn.scalar("SHOW application_name") == "migrate-test"
        assert conn.scalar("SHOW TimeZone") == "UTC"
    finally:
        conn.rollback()
        conn.close()


def test_ids_not_drawn_for_want_of_a_right_name_the_right(targets, store20k):
    """A loader allowed to write the tables but only to use their sequences (no UPDATE): the
    block of ids cannot be drawn. The message says why ("permission denied for sequence"); the
    unlock in a `finally` hid it behind "current transaction is aborted"."""
    from sqlalchemy import text

    from migrate.errors import MigrateError

    url, role = targets.fresh(), "migrate_no_setval"
    engine = make_engine(url)
    with engine.begin() as c:
        if not c.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar():
            c.execute(text(f"CREATE ROLE {role} LOGIN"))
        c.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"))
        c.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}"))
    engine.dispose()
    as_role = parse_url(url).set(username=role).render_as_string(hide_password=False)
    with pytest.raises(MigrateError) as info:
        load(as_role, store20k, chunk_size=CHUNK, jobs=2)
    assert "permission denied for sequence" in info.value.message, info.value.message
