"""Kept content hashes (migrate.load.hashcache): a table is read again exactly when something
wrote it since its last hash, whoever wrote it and however; a kept hash always equals a fresh
one."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from migrate.db import make_engine
from migrate.load.hashcache import table_hashes
from migrate.load.hashing import connection_hash
from migrate.model import MODEL_TABLES, supplier

SUPPLIERS = "INSERT INTO supplier (supplier_code, name, qualification_status) VALUES "


@pytest.fixture
def pg(pg_url):
    from migrate import db

    # a hash that waited for a writer would wait for this very test: fail instead of hanging
    engine = make_engine(pg_url, connect_args={"options": "-c lock_timeout=5000"})
    db.upgrade(engine)
    with engine.begin() as c:
        c.execute(text(SUPPLIERS + "('S1', 'one', 'approved'), ('S2', 'two', 'blocked')"))
    yield engine
    engine.dispose()


def kept(engine) -> dict[str, tuple[str | None, object]]:
    with engine.connect() as c:
        return {
            r[0]: (r[1], r[2])
            for r in c.execute(text("SELECT table_name, hash, hashed_at FROM migrate_table_hash"))
        }


def fresh(engine) -> dict[str, str]:
    with engine.connect() as c:
        return {t.name: connection_hash(c, t) for t in MODEL_TABLES}


def hashed(engine) -> dict[str, str]:
    with engine.begin() as c:
        return table_hashes(c)


@pytest.mark.postgres
def test_an_unwritten_table_is_not_read_again(pg):
    first = hashed(pg)
    assert first == fresh(pg)
    stored = kept(pg)
    assert {name for name, (h, _) in stored.items() if h} == {t.name for t in MODEL_TABLES}
    assert hashed(pg) == first
    assert kept(pg) == stored  # same hashed_at everywhere: nothing was hashed again


WRITES = {
    "insert": SUPPLIERS + "('S3', 'three', 'approved')",
    "update": "UPDATE supplier SET name = 'ONE' WHERE supplier_code = 'S1'",
    "delete": "DELETE FROM supplier WHERE supplier_code = 'S2'",
    "truncate": "TRUNCATE supplier CASCADE",
    "copy": None,  # COPY FROM fires the statement trigger too
}


@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.postgres
def test_any_write_by_anyone_makes_the_table_read_again(pg, write):
    before = hashed(pg)
    stored = kept(pg)
    other = make_engine(pg.url)  # another session, as a foreign application would be
    with other.begin() as c:
        if write == "copy":
            with c.connection.driver_connection.cursor().copy(
                "COPY supplier (supplier_code, name, qualification_status) FROM STDIN"
            ) as copy:
                copy.write_row(("S9", "nine", "approved"))
        else:
            c.execute(text(WRITES[write]))
    other.dispose()
    after = hashed(pg)
    assert after == fresh(pg)
    assert after["supplier"] != before["supplier"]
    now = kept(pg)
    assert now["supplier"][1] != stored["supplier"][1]  # hashed again
    assert now["material"] == stored["material"]  # the others kept


@pytest.mark.postgres
def test_a_write_while_the_trigger_was_disabled_is_seen(pg):
    """`ALTER TABLE ... DISABLE TRIGGER` hides the write from the notes; the write counters
    (or, while it stays disabled, the trigger's state) still make the table read again."""
    hashed(pg)
    with pg.begin() as c:
        c.execute(text("ALTER TABLE supplier DISABLE TRIGGER migrate_note_write"))
    assert hashed(pg)["supplier"] == fresh(pg)["supplier"]
    other = make_engine(pg.url)
    with other.begin() as c:
        c.execute(text("UPDATE supplier SET name = 'sneaky' WHERE supplier_code = 'S1'"))
    other.dispose()  # the session ends: its write counters reach the statistics
    with pg.begin() as c:
        c.execute(text("ALTER TABLE supplier ENABLE ALWAYS TRIGGER migrate_note_write"))
    _until_counted(pg, "supplier", updated=1)
    assert hashed(pg)["supplier"] == fresh(pg)["supplier"]


@pytest.mark.postgres
def test_a_table_whose_trigger_is_disabled_is_always_read_again(pg):
    """Even a write the statistics never count (a superuser's `SET track_counts = off`)."""
    hashed(pg)
    with pg.begin() as c:
        c.execute(text("ALTER TABLE supplier DISABLE TRIGGER migrate_note_write"))
        c.execute(text("SET LOCAL track_counts = off"))
        c.execute(text("UPDATE supplier SET name = 'uncounted' WHERE supplier_code = 'S1'"))
    assert hashed(pg)["supplier"] == fresh(pg)["supplier"]


def _until_counted(engine, table: str, *, updated: int) -> None:
    """Statistics reach shared memory shortly after a session ends: wait for them (≤ 10 s)."""
    for _ in range(100):
        with engine.connect() as c:
            n = c.execute(text(f"SELECT pg_stat_get_tuples_updated('{table}'::regclass)")).scalar_one()
        if n >= updated:
            return
        time.sleep(0.1)
    raise AssertionError(f"{table}: the update never reached the statistics")


@pytest.mark.postgres
def test_writers_running_while_hashing_are_never_lost(pg):
    """A writer uncommitted while the hash is taken (with no note yet, and holding the note
    of an earlier write): its note outlives the hash, so the next hash reads the table again."""
    hashed(pg)
    for setup in ("no note", "a note already there"):
        writer = make_engine(pg.url).connect()
        if setup == "a note already there":
            with pg.begin() as c:
                c.execute(text("UPDATE supplier SET name = name || '.' WHERE supplier_code = 'S2'"))
        tx = writer.begin()
        writer.execute(text(f"UPDATE supplier SET name = 'while hashing {setup}' WHERE supplier_code = 'S1'"))
        during = hashed(pg)  # without the writer's row
        assert during["supplier"] == fresh(pg)["supplier"]
        tx.commit()
        writer.close()
        writer.engine.dispose()
        after = hashed(pg)
        assert after["supplier"] == fresh(pg)["supplier"] != during["supplier"], setup


@pytest.mark.postgres
def test_a_rolled_back_caller_keeps_nothing(pg):
    """A rollback rehearsal hashes its own uncommitted state, then rolls it back."""
    before = hashed(pg)
    stored = kept(pg)
    with pg.connect() as c:
        c.begin()
        c.execute(text("DELETE FROM supplier WHERE supplier_code = 'S1'"))
        inside = table_hashes(c)
        assert inside["supplier"] == connection_hash(c, supplier) != before["supplier"]
        c.rollback()
    assert kept(pg) == stored
    assert hashed(pg) == before == fresh(pg)


@pytest.mark.postgres
def test_a_read_only_session_uses_kept_hashes_and_keeps_none(pg):
    before = hashed(pg)
    with pg.begin() as c:
        c.execute(text(SUPPLIERS + "('S4', 'four', 'approved')"))
    stored = kept(pg)
    reader = make_engine(pg.url, read_only=True)
    with reader.connect() as c:
        got = table_hashes(c)
    reader.dispose()
    assert got == fresh(pg) and got["supplier"] != before["supplier"]
    assert got["material"] == before["material"]
    assert kept(pg) == stored


@pytest.mark.postgres
def test_a_writer_without_rights_on_the_control_tables_still_writes(pg):
    """The trigger notes the write as its owner: an application granted only its own table works."""
    role = f"app_{pg.url.database}"[:60]
    with pg.begin() as c:
        c.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        c.execute(text(f'GRANT INSERT, SELECT ON supplier TO "{role}"'))
        c.execute(text(f'GRANT USAGE ON SEQUENCE supplier_id_seq TO "{role}"'))
    before = hashed(pg)
    try:
        app = make_engine(pg.url.set(username=role))
        with app.begin() as c:
            c.execute(text(SUPPLIERS + "('S5', 'five', 'approved')"))
        app.dispose()
        after = hashed(pg)
        assert after["supplier"] == fresh(pg)["supplier"] != before["supplier"]
    finally:
        with pg.begin() as c:
            c.execute(text(f'DROP OWNED BY "{role}"'))
            c.execute(text(f'DROP ROLE "{role}"'))


def test_sqlite_hashes_every_table_every_time(sqlite_url):
    from migrate import db

    engine = make_engine(sqlite_url)
    db.upgrade(engine)
    with engine.begin() as c:
        c.execute(text(SUPPLIERS + "('S1', 'one', 'approved')"))
        first = table_hashes(c)
        c.execute(text("UPDATE supplier SET name = 'x'"))
        assert table_hashes(c) == {t.name: connection_hash(c, t) for t in MODEL_TABLES} != first
    engine.dispose()


@pytest.mark.postgres
def test_a_target_loaded_before_0008_is_hashed_whole_then_kept(pg_url):
    """`db upgrade` on a target that already holds rows: nothing kept yet, so the first hash reads
    every table; from then on only what is written. Down to 0007 and back leaves no trigger behind."""
    from migrate import db

    engine = make_engine(pg_url)
    db.upgrade(engine, "0007")
    with engine.begin() as c:
        c.execute(text(SUPPLIERS + "('S1', 'one', 'approved')"))
    assert db.upgrade(engine) == "0009"  # 0008 and what follows it
    assert hashed(engine) == fresh(engine)
    with engine.begin() as c:
        c.execute(text("UPDATE supplier SET name = 'uno'"))
    assert hashed(engine) == fresh(engine)
    db.downgrade(engine, "0007")
    with engine.connect() as c:
        left = c.execute(
            text("SELECT count(*) FROM pg_trigger WHERE tgname = 'migrate_note_write'")
        ).scalar_one()
        assert left == 0 and c.execute(text("SELECT to_regproc('migrate_note_write')")).scalar_one() is None
    db.upgrade(engine)
    engine.dispose()
