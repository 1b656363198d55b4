"""T1: kill -9 at every named point of every chunk, then resume: the same target as one clean load.

The crash is a real SIGKILL of a forked loader process (nothing in it gets to clean up);
the resume runs in the test process and reads the checkpoint back from the target.
"""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import text

from migrate.db import make_engine
from migrate.load import load
from migrate.load.faults import CRASH_POINTS, Faults
from migrate.load.hashing import content_hash
from migrate.model import ENTITIES, MODEL_TABLES
from tests.load.conftest import hashes, scalar
from tests.load.mapped import make_store

PP = "process_parameter"
PARENTS = [e for e in ENTITIES if e != PP]


def _child(
    url: str, store: str, chunk_size: int, spec: str, bug: str, entities: list[str], jobs: int
) -> None:
    faults = Faults(spec, "0", bug)
    load(url, store, entities, chunk_size=chunk_size, faults=faults, operator="crash", jobs=jobs)


def crash(
    url: str, store: str, chunk_size: int, spec: str, bug: str = "", entities: tuple = (PP,), jobs: int = 1
) -> int:
    """Run a load in a forked process with a fault switched on; its exit code (-9: killed)."""
    args = (url, store, chunk_size, spec, bug, list(entities), jobs)
    process = multiprocessing.get_context("fork").Process(target=_child, args=args)
    process.start()
    process.join(60)
    return process.exitcode


def ledger_inserted(url: str, entity: str) -> int:
    return scalar(
        url,
        "SELECT COALESCE(SUM(id_hi - id_lo + 1), 0) FROM migrate_load_ledger WHERE entity = :e AND op = 'insert'",
        e=entity,
    )


def check_point(url: str, reference: dict[str, str], rows: int) -> list[str]:
    """What differs from an uninterrupted load (empty: nothing). One engine, one connection."""
    engine = make_engine(url)
    try:
        got = {t.name: content_hash(engine, t) for t in MODEL_TABLES}
        with engine.connect() as c:
            count = c.execute(text(f"SELECT COUNT(*) FROM {PP}")).scalar()
            inserted, counted = c.execute(
                text(
                    "SELECT inserted, inserted + updated + unchanged FROM migrate_load_checkpoint WHERE entity = :e"
                ),
                {"e": PP},
            ).one()
            ledger = c.execute(
                text(
                    "SELECT COALESCE(SUM(id_hi - id_lo + 1), 0) FROM migrate_load_ledger "
                    "WHERE entity = :e AND op = 'insert'"
                ),
                {"e": PP},
            ).scalar()
    finally:
        engine.dispose()
    problems = []
    if got != reference:
        problems.append("content hash differs")
    if count != rows:
        problems.append(f"{count} rows, not {rows}")
    if (counted, inserted) != (rows, rows):
        problems.append(f"checkpoint counts {inserted} inserted of {counted}, not {rows}")
    if ledger != rows:
        problems.append(f"ledger holds {ledger} inserted ids, not {rows}")
    return problems


def seeded(targets, store: str) -> None:
    """Parents loaded once into the template: each crash point then loads only process parameters."""
    load(targets.template, store, PARENTS)


def sweep(
    targets, store: str, rows: int, chunk_size: int, bug: str = "", points=CRASH_POINTS, jobs=1, chunks=None
) -> dict:
    """Kill at each point of each chunk (`chunks`: these only), resume; `jobs` connections for
    the killed load and its resume (a resume of a pass on several connections keeps its form)."""
    seeded(targets, store)
    reference_url = targets.fresh()
    load(reference_url, store, [PP], chunk_size=chunk_size)
    reference = hashes(reference_url)
    failures = {}
    for chunk in chunks or range(-(-rows // chunk_size)):
        for point in points:
            url = targets.fresh()
            code = crash(url, store, chunk_size, f"{point}:{chunk}:{PP}", bug, jobs=jobs)
            assert code == -9, f"{point}:{chunk}: the loader was not killed (exit {code})"
            load(url, store, [PP], chunk_size=chunk_size, operator="resume", jobs=jobs)
            problems = check_point(url, reference, rows)
            if problems:
                failures[f"{point}:{chunk}"] = problems
    return failures


def test_crash_sweep_every_point_of_every_chunk(targets, tmp_path):
    """24 kill -9 points (4 chunks x 6 points) of a 20,000-row load, each resumed."""
    store = make_store(tmp_path / "store.db", 20_000)
    assert sweep(targets, store, 20_000, 5_000) == {}


def test_crash_sweep_catches_checkpoint_written_after_commit(targets, tmp_path):
    """The seeded bug (checkpoint in its own transaction after the data commit) must fail the sweep."""
    store = make_store(tmp_path / "store.db", 20_000)
    failures = sweep(targets, store, 20_000, 5_000, bug="checkpoint_after_commit", points=("after_commit",))
    assert set(failures) == {f"after_commit:{c}" for c in range(4)}
    assert all("checkpoint counts" in " ".join(p) for p in failures.values())


UNCOMMITTED = ("before_begin", "after_data", "after_ledger", "after_checkpoint")
# A first crash that leaves chunk 1 uncommitted is followed by a crash in the resume's retry of
# that same chunk; one that may have committed it (during/after commit) by a crash in chunk 2.
# Every second point is reached whatever the first did: 6 x 6 = 36 double faults.
DOUBLE_FAULTS = [
    (f"{first}:1", f"{second}:{1 if first in UNCOMMITTED else 2}")
    for first in CRASH_POINTS
    for second in CRASH_POINTS
]


def double_faults(targets, store: str, pairs, bug: str = "", jobs: int = 1) -> dict:
    """Crash, crash again while resuming, then resume cleanly: what differs per pair."""
    seeded(targets, store)
    reference_url = targets.fresh()
    load(reference_url, store, [PP], chunk_size=5_000)
    reference = hashes(reference_url)
    failures = {}
    for first, second in pairs:
        url = targets.fresh()
        assert crash(url, store, 5_000, f"{first}:{PP}", bug, jobs=jobs) == -9, first
        assert crash(url, store, 5_000, f"{second}:{PP}", bug, jobs=jobs) == -9, (first, second)
        load(url, store, [PP], chunk_size=5_000, jobs=jobs)
        problems = check_point(url, reference, 20_000)
        if problems:
            failures[(first, second)] = problems
    return failures


def test_double_fault_crash_during_resume(targets, tmp_path):
    """T1's double faults: 36 pairs of (crash, crash during the resume), then a clean resume."""
    store = make_store(tmp_path / "store.db", 20_000)
    assert len(DOUBLE_FAULTS) == 36
    assert double_faults(targets, store, DOUBLE_FAULTS) == {}


def test_double_faults_catch_checkpoint_written_after_commit(targets, tmp_path):
    """With the checkpoint committed apart from the data, a resume crashing after its commit
    replays that chunk: the double-fault run must see the duplicate."""
    store = make_store(tmp_path / "store.db", 20_000)
    pairs = [("before_begin:1", "after_commit:1"), ("after_commit:1", "after_commit:2")]
    failures = double_faults(targets, store, pairs, bug="checkpoint_after_commit")
    assert set(failures) == set(pairs)
    assert all("checkpoint counts" in " ".join(p) for p in failures.values())


@pytest.mark.slow
def test_full_crash_sweep_84_points(targets, tmp_path):
    """The measured 80-point sweep: 14 chunks x 6 points of a 20,000-row load."""
    store = make_store(tmp_path / "store.db", 20_000)
    assert sweep(targets, store, 20_000, 1_500) == {}
