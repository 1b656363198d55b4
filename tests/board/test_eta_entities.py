"""The go-live ETA scales each entity's map and load time by its own sources' growth: a phase
whose process-parameter table grew tenfold does not make its few work orders cost ten times."""

from __future__ import annotations

import pytest

from migrate.project import PhaseSpec
from migrate.rehearsal.eta import _phase_estimate
from migrate.rehearsal.record import Rehearsal, SourceFacts, StepTiming

PHASE = PhaseSpec(name="history", entities=["work_order", "process_parameter", "equipment_status"])
MAP = {"work_order": 1.0, "process_parameter": 2.0, "equipment_status": 0.2}  # 0.2 s: the fixed cost
STEPS = (
    StepTiming("history", "extract", 2.0, {"orders": 0.5, "params": 1.0, "states": 0.5}),
    StepTiming("history", "map", 3.2, MAP),
)
SOURCES = (
    SourceFacts("orders", "sha256:a", 300, 300, "rows"),
    SourceFacts("params", "sha256:b", 30_000, 30_000, "rows"),
    SourceFacts("states", "sha256:c", 100, 100, "rows"),
)
FIELDS = dict(started_at="2026-12-06T00:00:00", seconds=5.0, target="sqlite://", operator="qa")
REHEARSAL = Rehearsal(
    name="r", **FIELDS, phases=("history",), project_fingerprint="", files={}, sources=SOURCES,
    steps=STEPS, entities=(), variances=(), traceability={}, gates={}, approved=(),
)  # fmt: skip
GROWN = {"orders": 1.0, "params": 10.0, "states": 1.0}  # the parameters tenfold, the rest as they were
SO_FAR = ["orders", "params", "states"]


def test_each_entity_grows_with_its_own_sources():
    fed_by = {"work_order": ["orders"], "process_parameter": ["params"], "equipment_status": ["states"]}
    estimate = _phase_estimate(PHASE, REHEARSAL, GROWN, SO_FAR, fed_by)
    # work orders and states as they were; the parameters' time above the fixed cost tenfold
    assert estimate.steps["map"] == pytest.approx(1.0 + (0.2 + 1.8 * 10) + 0.2)


def test_without_the_mappings_an_entity_grows_with_its_phase():
    estimate = _phase_estimate(PHASE, REHEARSAL, GROWN, SO_FAR)
    factor = (300 + 30_000 * 10.0 + 100) / 30_400
    assert estimate.steps["map"] == pytest.approx((0.2 + 0.8 * factor) + (0.2 + 1.8 * factor) + 0.2, abs=1e-2)
