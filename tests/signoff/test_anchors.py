"""T18 (audit): a log emptied, cut with its head rewritten, rewritten from an entry on, or
dropped is detected (exit 1, a clear message), on SQLite and PostgreSQL: the chain alone
"verifies" in each case, the anchors and the toolkit's own records do not."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, insert, select, text, update
from typer.testing import CliRunner

from migrate import audit, db
from migrate.cli.app import app
from migrate.model import audit_head, audit_log, load_run, utcnow
from migrate.rollback.points import record_point
from migrate.urls import parse_url


@pytest.fixture
def target(target_url):
    """Two entries, a cutover point (entry 3, anchored), three entries after it."""
    engine = db.make_engine(target_url)
    db.upgrade(engine)
    for i in (1, 2):
        audit.record(engine, "alice", "extract", {"rows": i})
    record_point(parse_url(target_url), "p1", operator="alice")
    for i in (4, 5, 6):
        audit.record(engine, "alice", "map", {"entities": {"supplier": {"mapped": i}}})
    assert audit.verify(engine).ok
    yield engine
    engine.dispose()


def _cut_to(engine, keep: int) -> None:
    """Delete the entries after `keep` and rewrite the head to match: a chain that links up."""
    with engine.begin() as c:
        c.execute(delete(audit_log).where(audit_log.c.seq > keep))
        last = c.execute(select(audit_log.c.hash).where(audit_log.c.seq == keep)).scalar() or audit.GENESIS
        c.execute(update(audit_head).values(seq=keep, hash=last))


def test_an_emptied_log_is_detected(target):
    with target.begin() as c:
        c.execute(delete(audit_log))
    assert "ends at entry 0 but its head says 6" in audit.verify(target).problem
    with target.begin() as c:
        c.execute(delete(audit_head))
    result = audit.verify(target)
    assert not result.ok and "the log has 0 entries, but the point anchor 'p1'" in result.problem


def test_a_cut_log_with_its_head_rewritten_is_detected(target):
    _cut_to(target, 2)
    result = audit.verify(target)
    assert not result.ok and "the log has 2 entries, but the point anchor 'p1'" in result.problem


def test_a_log_rewritten_from_an_anchored_entry_on_is_detected(target):
    _cut_to(target, 2)
    for i in (3, 4, 5, 6):  # same length, every hash recomputed: the chain links up
        audit.record(target, "mallory", "map", {"rows": i})
    result = audit.verify(target)
    assert not result.ok and "entry 3 is not the one the point anchor 'p1'" in result.problem


def test_a_finished_run_without_its_entry_is_detected(target):
    with target.begin() as c:
        c.execute(
            insert(load_run).values(
                started_at=utcnow(),
                operator="alice",
                host="h",
                pid=1,
                command="migrate load",
                mode="upsert",
                chunk_size=10,
                input_fingerprints="{}",
                status="completed",
            )
        )
    result = audit.verify(target)
    assert not result.ok and "load run 1 has no audit entry" in result.problem


def test_a_dropped_log_is_detected_with_a_clear_message(target, target_url):
    with target.begin() as c:
        c.execute(text("DROP TABLE migrate_audit_log"))
    result = CliRunner().invoke(app, ["--target", target_url, "--json", "audit", "verify"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert not data["ok"] and "the audit tables are missing (migrate_audit_log)" in data["problem"]
    human = CliRunner().invoke(app, ["--target", target_url, "audit", "verify"])
    assert human.exit_code == 1 and "audit log NOT intact" in human.output and "internal" not in human.output
