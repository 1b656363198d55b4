"""`migrate rollback` wiring: points, mark, plan, rehearse, readiness, run; exit codes and messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.project import read_yaml, validated
from migrate.rollback.plan import RollbackPlanSpec
from tests.load.conftest import hashes
from tests.load.test_cli import project

REPO = Path(__file__).resolve().parents[2]


def run(root: Path, target: str, *args: str):
    return CliRunner().invoke(
        app, ["--project", str(root), "--target", target, *args], env={"COLUMNS": "200"}
    )


@pytest.fixture
def loaded(target_url, tmp_path) -> tuple[Path, str, dict]:
    root = project(tmp_path, target_url)
    (root / "rollback").mkdir()
    shutil.copy(REPO / "rollback" / "start.yaml", root / "rollback" / "start.yaml")
    empty = hashes(target_url)
    assert run(root, target_url, "load", "--chunk-size", "1000").exit_code == 0
    return root, target_url, empty


def test_points_mark_plan_rehearse_readiness_run(loaded):
    root, url, empty = loaded
    marked = run(root, url, "--operator", "li.wei", "rollback", "mark", "C1", "--phase", "master-data")
    assert marked.exit_code == 0 and "cutover point C1 recorded" in marked.stdout
    listed = json.loads(run(root, url, "--json", "rollback", "points").stdout)
    assert [p["name"] for p in listed["points"]] == ["start", "C1"]
    plan = run(root, url, "rollback", "plan", "--to", "start")
    assert plan.exit_code == 0, plan.output
    assert "undo process_parameter: deleted 3,000" in plan.stdout and "李伟 (project lead)" in plan.stdout
    data = json.loads(run(root, url, "--json", "rollback", "plan", "--to", "start").stdout)
    assert data["automatic"][0]["entity"] == "shipment" and data["automatic"][-1]["entity"] == "supplier"
    assert data["manual_before"][0]["minutes"] == 15 and data["total_minutes"] >= 55
    rehearsal = run(root, url, "rollback", "rehearse", "--to", "start")
    assert rehearsal.exit_code == 0 and "the target is unchanged" in rehearsal.stdout
    ready = run(root, url, "rollback", "readiness", "--to", "start")
    assert ready.exit_code == 0 and "ready:" in ready.stdout
    done = run(root, url, "--json", "rollback", "run", "--to", "start", "--yes")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["exact"] is True and hashes(url) == empty
    log = json.loads(run(root, url, "--json", "audit", "log").stdout)["entries"]
    assert [e["command"] for e in log][-2:] == ["rollback mark", "rollback run"]


def test_not_exact_and_not_ready_exit_1_naming_the_table(loaded):
    root, url, _ = loaded
    from sqlalchemy import text

    from migrate.db import make_engine

    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(text("INSERT INTO customer (customer_code, name) VALUES ('C-HAND', 'entered by hand')"))
    engine.dispose()
    ready = run(root, url, "rollback", "readiness", "--to", "start")
    assert (
        ready.exit_code == 1 and "not ready" in ready.output and "customer would not return" in ready.output
    )
    rehearsal = run(root, url, "rollback", "rehearse", "--to", "start")
    assert rehearsal.exit_code == 1 and "customer" in rehearsal.output
    done = run(root, url, "rollback", "run", "--to", "start", "--yes")
    assert done.exit_code == 1 and "these tables differ from start: customer" in done.output
    assert run(root, url, "--json", "rollback", "points").exit_code == 0
    from tests.load.conftest import scalar

    assert scalar(url, "SELECT name FROM customer") == "entered by hand"  # never touched


def test_bad_usage_exits_2(loaded):
    root, url, _ = loaded
    unknown = run(root, url, "rollback", "run", "--to", "nowhere", "--yes")
    assert unknown.exit_code == 2 and "no cutover point 'nowhere'" in unknown.output
    (root / "rollback" / "start.yaml").write_text("steps:\n  - step: x\n    owner: y\n    minutes: -1\n")
    bad = run(root, url, "rollback", "plan", "--to", "start")
    assert bad.exit_code == 2 and "rollback/start.yaml" in bad.output and "steps.0.minutes" in bad.output
    name = run(root, url, "rollback", "mark", "bad name;")
    assert name.exit_code == 2 and "not a usable cutover point name" in name.output


def test_reference_rollback_plans_parse_and_name_points_of_the_plan():
    phases = {p["name"] for p in read_yaml(REPO / "phases" / "plan.yaml")["phases"]} | {"start"}
    files = sorted((REPO / "rollback").glob("*.yaml"))
    assert len(files) == 4
    for path in files:
        spec = validated(RollbackPlanSpec, read_yaml(path), path)
        assert path.stem in phases and spec.steps


def test_a_misspelt_point_or_entity_names_the_nearest(sqlite_url):
    """`--to master` when the point is `master-data`; `suplier` for `supplier` (found by the
    new-user pass: both listed every name and left the reader to spot the typo)."""
    import pytest

    from migrate import db
    from migrate.db import make_engine
    from migrate.errors import ConfigError
    from migrate.model import entity
    from migrate.rollback.points import find_point, record_point
    from migrate.urls import parse_url

    engine = make_engine(sqlite_url)
    db.upgrade(engine)
    record_point(parse_url(sqlite_url), "master-data", operator="t")
    with pytest.raises(ConfigError, match=r"no cutover point 'master' \(did you mean 'master-data'\?\)"):
        find_point(engine, "master")
    engine.dispose()
    with pytest.raises(ConfigError, match=r"unknown entity 'suplier' \(did you mean 'supplier'\?\)"):
        entity("suplier")
