"""Traceability checks at phase gates: only entities loaded in this and earlier phases are
compared; the plan is validated against the checks its gates run."""

from __future__ import annotations

from pathlib import Path

from migrate import db, phase
from migrate.db import make_engine
from migrate.demo import prepare
from migrate.mapping import map_entities
from migrate.project import Project
from tests.phase.test_phase import run


def test_a_phase_is_approved_while_later_phases_entities_are_mapped_but_not_loaded(tmp_path):
    root = tmp_path / "project"
    prepare(root, rows=500)
    engine = make_engine(Project(root).target_url)
    db.upgrade(engine)
    engine.dispose()
    assert run(root, "extract").exit_code == 0
    map_entities(Project(root))  # every entity mapped, genealogy included
    for name in ("master-data", "open-inventory"):
        assert run(root, "phase", "run", name).exit_code == 0
        result = phase.approve(Project(root), name)
        assert result.approved
    checks = {t["name"]: t for t in result.reconcile["traceability"]}
    assert checks["lot_origin"]["status"] == "not yet loaded"
    assert checks["lot_origin"]["waiting_for"] == ["lot_genealogy"]
    assert checks["released_inspected"]["waiting_for"] == ["quality_inspection"]
    shown = run(root, "reconcile", "--phase", "open-inventory")
    assert "traceability lot_origin: not yet loaded: lot_genealogy" in shown.stdout


def test_the_plan_is_validated_against_the_checks_its_gates_run(tmp_path: Path):
    root = tmp_path / "project"
    prepare(root, rows=500)
    plan = root / "phases" / "plan.yaml"
    plan.write_text(plan.read_text().replace("depends_on: [open-inventory]", "depends_on: [master-data]"))
    bad = run(root, "phase", "list")
    assert bad.exit_code == 2 and "phases/plan.yaml" in bad.output, bad.output
    message = " ".join(bad.output.split())
    assert (
        "check lot_origin" in message
        and "add open-inventory to the depends_on of production-history" in message
    )
