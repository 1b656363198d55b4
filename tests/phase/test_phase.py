"""`migrate phase list|status|run|approve` on the reference project (its legacy factory at 500 rows),
and rollback to the points phases record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from migrate import db
from migrate.cli.app import app
from migrate.db import make_engine
from migrate.demo import prepare
from migrate.project import Project
from tests.load.conftest import hashes


def run(root: Path, *args: str):
    return CliRunner().invoke(
        app, ["--project", str(root), "--operator", "qa", *args], env={"COLUMNS": "240"}
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("phases") / "project"
    prepare(root, rows=500)
    engine = make_engine(Project(root).target_url)
    db.upgrade(engine)
    engine.dispose()
    return root


def test_list_names_every_phase_in_order(reference):
    data = json.loads(run(reference, "--json", "phase", "list").stdout)
    assert [p["name"] for p in data["phases"]] == [
        "master-data",
        "open-inventory",
        "production-history",
        "go-live-delta",
    ]
    assert "supplier" in run(reference, "phase", "list").stdout


def test_run_status_approve_then_roll_back_to_the_phase_point(reference):
    root = reference
    early = run(root, "phase", "approve", "open-inventory")
    assert (
        early.exit_code == 1
        and "gate not met for phase open-inventory: earlier phases approved" in early.output
    )
    first = run(root, "phase", "run", "master-data")
    assert first.exit_code == 0, first.output
    status = json.loads(run(root, "--json", "phase", "status").stdout)["phases"]
    assert status[0]["loaded"] and not status[0]["approved"] and not status[1]["loaded"]
    assert {e["state"] for e in status[1]["entities"]} == {"not loaded"}
    approved = run(root, "phase", "approve", "master-data")
    assert approved.exit_code == 0, approved.output
    assert "cutover point master-data recorded" in approved.stdout and "reconcile" in approved.stdout
    again = run(root, "phase", "approve", "master-data")
    assert again.exit_code == 2 and "already approved" in again.output
    unloaded = run(root, "phase", "approve", "open-inventory")
    assert unloaded.exit_code == 1 and "entities loaded (material_lot (not loaded)" in unloaded.output
    at_master = hashes(str(Project(root).target_url))
    assert run(root, "phase", "run", "open-inventory").exit_code == 0
    assert run(root, "phase", "approve", "open-inventory").exit_code == 0
    status = json.loads(run(root, "--json", "phase", "status").stdout)["phases"]
    assert [s["approved"] for s in status] == [True, True, False, False]
    back = run(root, "--json", "rollback", "run", "--to", "master-data", "--yes")
    assert back.exit_code == 0 and json.loads(back.stdout)["exact"], back.output
    assert hashes(str(Project(root).target_url)) == at_master
    status = json.loads(run(root, "--json", "phase", "status").stdout)["phases"]
    assert [s["approved"] for s in status] == [True, False, False, False]
    assert {e["state"] for e in status[1]["entities"]} == {"not loaded"}  # checkpoints reset


def test_reconcile_gate_not_met_names_the_gate(tmp_path):
    root = tmp_path / "project"
    prepare(root, rows=500)
    engine = make_engine(Project(root).target_url)
    db.upgrade(engine)
    assert run(root, "phase", "run", "master-data").exit_code == 0
    with engine.begin() as c:
        c.execute(text("UPDATE supplier SET name = 'edited' WHERE id = (SELECT MIN(id) FROM supplier)"))
    engine.dispose()
    result = run(root, "phase", "approve", "master-data")
    assert (
        result.exit_code == 1
        and "gate not met for phase master-data: reconcile (failing: supplier" in result.output
    )


def test_declared_gates_are_checked_and_validated(tmp_path):
    root = tmp_path / "project"
    prepare(root, rows=500)
    plan = root / "phases" / "plan.yaml"
    text_ = plan.read_text().replace(
        "entities: [supplier, customer, material, equipment]",
        "entities: [supplier, customer, material, equipment]\n    gates: [{max_rejected: 0}]",
    )
    plan.write_text(text_)
    engine = make_engine(Project(root).target_url)
    db.upgrade(engine)
    engine.dispose()
    assert run(root, "phase", "run", "master-data").exit_code == 0
    result = run(root, "phase", "approve", "master-data")
    assert (
        result.exit_code == 1
        and "gate not met for phase master-data: max_rejected 0 (over the limit:" in result.output
    )
    plan.write_text(text_.replace("max_rejected: 0", "eval: 1"))
    bad = run(root, "phase", "status")
    assert bad.exit_code == 2 and "phases/plan.yaml" in bad.output and "phases.0.gates.0" in bad.output
