"""The go-live ETA scales each entity's map and load time by its own sources' growth: a phase
whose process-parameter table grew tenfold does not make its few work orders cost ten times."""

from __future__ import annotations

import pytest

from migrate.project import PhaseSpec
from migrate.rehearsal.eta import _phase_estimate
from migrate.rehearsal.record import Rehearsal, SourceFacts, StepTiming

PHASE = PhaseSpec(name="history", entities=["work_order", "process_parameter"])
STEPS = (
    StepTiming("history", "extract", 2.0, {"orders": 1.0, "params": 1.0}),
    StepTiming("history", "map", 3.0, {"work_order": 1.0, "process_parameter": 2.0}),
)
SOURCES = (
    SourceFacts("orders", "sha256:a", 300, 300, "rows"),
    SourceFacts("params", "sha256:b", 30_000, 30_000, "rows"),
)
REHEARSAL = Rehearsal(
    "r",
    "2026-12-06T00:00:00",
    5.0,
    "sqlite://",
    "qa",
    ("history",),
    "",
    {},
    SOURCES,
    STEPS,
    (),
    (),
    {},
    {},
    (),
)
GROWN = {"orders": 1.0, "params": 10.0}  # the parameters tenfold, the work orders as they were


def test_each_entity_grows_with_its_own_sources():
    fed_by = {"work_order": ["orders"], "process_parameter": ["params"]}
    estimate = _phase_estimate(PHASE, REHEARSAL, GROWN, ["orders", "params"], fed_by)
    # work_order's 1.0 s is the step's fixed cost and stays; process_parameter's 1.0 s above it grows tenfold
    assert estimate.steps["map"] == pytest.approx(1.0 + (1.0 + 1.0 * 10))


def test_without_the_mappings_an_entity_grows_with_its_phase():
    estimate = _phase_estimate(PHASE, REHEARSAL, GROWN, ["orders", "params"])
    factor = (300 * 1.0 + 30_000 * 10.0) / 30_300
    assert estimate.steps["map"] == pytest.approx(1.0 + (1.0 + 1.0 * factor), abs=1e-3)
