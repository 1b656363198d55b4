"""T3: cutover points C0..C3 and exact rollback, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from migrate.load import load
from migrate.rollback import rollback
from migrate.urls import parse_url
from tests.rollback.conftest import PHASE1, PHASE2, PHASE3, hashes, rows_of, scalar


def back(url: str, to: str, **kw):
    return rollback(parse_url(url), to, operator="test", chunk_size=kw.pop("chunk_size", 3), **kw)


def test_points_record_the_phases(phased):
    url, points, _ = phased
    assert set(points) == {"start", "C1", "C2", "C3"}
    assert points["C3"] == hashes(url)
    assert len({tuple(sorted(p.items())) for p in points.values()}) == 4  # four distinct states
    empty = points["start"]
    assert empty["supplier"] == empty["customer"]  # every table empty at the start


def test_rollback_pairs_give_the_recorded_hashes(phased):
    url, points, copy = phased
    for to in ("C2", "C1", "start"):
        result = back(url, to)
        assert result.exact, result.differs
        assert hashes(url) == points[to]
    assert scalar(url, "SELECT COUNT(*) FROM migrate_load_ledger") == 0
    assert scalar(url, "SELECT COUNT(*) FROM material") == 0
    other = copy()
    result = back(other, "start", chunk_size=1_000)
    assert result.exact and hashes(other) == points["start"]


def test_rollback_restores_before_images_exactly(phased, stores):
    """The delta (renames, changed and deleted movements) undone row for row, ids and timestamps too."""
    url, points, copy = phased
    at_c2 = copy()
    back(at_c2, "C2")
    reference = {t: rows_of(at_c2, t) for t in ("material", "inventory_movement")}
    result = back(url, "C2")
    assert result.rows["material"]["restored"] == 3
    assert result.rows["inventory_movement"] == {"deleted": 0, "restored": 2, "reinserted": 5}
    for table, rows in reference.items():
        assert rows_of(url, table) == rows
    assert len(rows_of(url, "inventory_movement")) == 30


def test_rollback_resets_checkpoints_and_later_points(phased, stores):
    url, points, _ = phased
    back(url, "C1")
    assert (
        scalar(
            url, "SELECT COUNT(*) FROM migrate_load_checkpoint WHERE entity IN ('material_lot', 'shipment')"
        )
        == 0
    )
    from migrate.errors import ConfigError

    with pytest.raises(ConfigError, match="undone by rollback run"):
        back(url, "C3")
    load(url, stores.first, PHASE2, chunk_size=7)  # the undone phase loads again, whole
    assert hashes(url) == points["C2"]


def test_round_trip_equals_the_first_load(targets, stores):
    url = targets.fresh()
    load(url, stores.first, chunk_size=11)
    first = hashes(url)
    ids = scalar(url, "SELECT COUNT(*) FROM process_parameter")
    assert back(url, "start").exact
    load(url, stores.first, chunk_size=11)
    assert hashes(url) == first
    assert scalar(url, "SELECT COUNT(*) FROM process_parameter") == ids
    assert back(url, "start").exact  # and the second load rolls back just as well


def test_nothing_after_the_point_is_a_no_op(phased):
    url, points, _ = phased
    result = back(url, "C3")
    assert (result.undone, result.exact) == (0, True)
    assert hashes(url) == points["C3"]


def test_rollback_is_audited(phased):
    url, _, _ = phased
    back(url, "C2")
    assert scalar(url, "SELECT command FROM migrate_audit_log ORDER BY seq DESC LIMIT 1") == "rollback run"
    assert scalar(url, "SELECT status FROM migrate_rollback_run") == "completed"


def test_unknown_point_is_a_config_error(phased):
    from migrate.errors import ConfigError

    url, _, _ = phased
    with pytest.raises(ConfigError, match="no cutover point 'C9'; live points: start, C1, C2, C3"):
        back(url, "C9")


__all__ = ["PHASE1", "PHASE3"]
