"""Rehearsals on the reference project: every step timed, the project's target untouched,
and a value map fixed between two rehearsals shows in `compare` as that reason's rejects
gone, with nothing else changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl
import pytest

from migrate.rehearsal.record import STEPS
from tests.board.conftest import VALUE_MAP, cli, cli_json, target_state


def test_every_step_and_entity_is_timed(rehearsed):
    assert [r.exit_code for r in rehearsed.runs] == [0, 0], rehearsed.runs[0].output
    record = json.loads((rehearsed.root / ".migrate/rehearsals/mock-1.json").read_text(encoding="utf-8"))
    plan = ["master-data", "open-inventory", "production-history", "go-live-delta"]
    assert [(s["phase"], s["step"]) for s in record["steps"]] == [(p, s) for p in plan for s in STEPS]
    assert all(s["seconds"] > 0 for s in record["steps"])
    timed = {(s["step"], name) for s in record["steps"] for name in s["items"]}
    for entity in record["entities"]:
        assert {("map", entity["entity"]), ("load", entity["entity"])} <= timed
        assert entity["source_rows"] == entity["mapped"] + entity["rejected"] + entity["filtered"]
        assert entity["loaded"] == entity["mapped"]
    assert {("extract", s["source"]) for s in record["sources"]} <= timed
    # the demo's last phase needs signatures (migrate.demo_signing): nobody signs a rehearsal,
    # so that gate alone stays unmet and the phase unapproved; every other gate holds
    assert record["approved"] == plan[:-1]
    unmet = [(p, g["gate"]) for p, gates in record["gates"].items() for g in gates if not g["met"]]
    assert unmet == [("go-live-delta", "signatures")]
    assert record["project_fingerprint"] and VALUE_MAP in record["files"]
    # the scratch target and work store are gone, the record stays
    assert not (rehearsed.root / ".migrate/rehearsals/mock-1").exists()
    board = (rehearsed.root / "status.html").read_text(encoding="utf-8")  # the demo wrote its board
    assert 'data-phase="go-live-delta" data-state="approved"' in board


def test_the_projects_target_is_never_written(rehearsed):
    assert target_state(rehearsed.root) == rehearsed.before


def test_compare_shows_the_fixed_reason_gone_and_nothing_else(rehearsed):
    result = cli_json(rehearsed.root, "rehearsal", "compare")
    assert (result["a"], result["b"]) == ("mock-1", "mock-2")
    changed = [r for r in result["rejects"] if r["change"] != "same"]
    assert [(r["entity"], r["reason"], r["after"], r["change"]) for r in changed] == [
        ("equipment_status", "unknown_value", 0, "gone")
    ]
    assert changed[0]["before"] > 0
    assert len(result["rejects"]) > 30  # every other entity and reason, unchanged
    assert result["variances_changed"] == 0 and len(result["variances"]) == 12
    assert [(i["kind"], i["name"], i["change"]) for i in result["inputs"]] == [
        ("value map", VALUE_MAP, "changed")
    ]
    assert {d["step"] for d in result["durations"]} == set(STEPS) and len(result["durations"]) == 20
    shown = cli(rehearsed.root, "rehearsal", "compare", "mock-1", "mock-2").stdout
    assert "equipment_status" in shown and "gone" in shown and "pairs unchanged" in shown


def test_compare_as_a_workbook(rehearsed, tmp_path):
    out = tmp_path / "compare.xlsx"
    assert cli(rehearsed.root, "rehearsal", "compare", "--out", str(out)).exit_code == 0
    book = openpyxl.load_workbook(out)
    rows = list(book["rejects"].iter_rows(values_only=True))
    assert rows[0] == ("entity", "reason", "mock-1", "mock-2", "change")
    assert [r for r in rows if r[-1] != "same"][1:] == [("equipment_status", "unknown_value", 1, 0, "gone")]
    assert list(book["inputs changed"].iter_rows(values_only=True))[1][:2] == ("value map", VALUE_MAP)


def test_list_and_refusals(rehearsed):
    listed = cli_json(rehearsed.root, "rehearsal", "list")["rehearsals"]
    assert [r["name"] for r in listed[:2]] == ["mock-1", "mock-2"]
    assert listed[0]["rejected"] - listed[1]["rejected"] == 1  # the ERR9 row, mapped now
    own = cli(rehearsed.root, "rehearsal", "run", "x", "--target", "sqlite:///.migrate/target.db")
    assert own.exit_code == 2 and "is the project's own target" in own.output
    assert cli(rehearsed.root, "rehearsal", "run", "../evil").exit_code == 2
    assert cli(rehearsed.root, "rehearsal", "compare", "mock-1", "nope").exit_code == 2
    assert target_state(rehearsed.root) == rehearsed.before


@pytest.mark.postgres
def test_a_postgresql_scratch_target(rehearsed, pg_url, tmp_path):
    root = tmp_path / "project"  # a copy: the other tests read the two rehearsals' records
    shutil.copytree(rehearsed.root, root)
    before = target_state(root)
    first = cli(root, "rehearsal", "run", "pg", "--phase", "master-data", "--target", pg_url)
    assert first.exit_code == 0, first.output
    record = cli_json(root, "rehearsal", "list")["rehearsals"][-1]
    assert (
        record["name"] == "pg"
        and record["phases"] == ["master-data"]
        and record["approved"] == ["master-data"]
    )
    again = cli(root, "rehearsal", "run", "pg2", "--phase", "master-data", "--target", pg_url)
    assert again.exit_code == 2 and "already holds tables" in again.output
    reset = cli(root, "rehearsal", "run", "pg2", "--phase", "master-data", "--target", pg_url, "--reset")
    assert reset.exit_code == 0, reset.output
    assert target_state(root) == before


def test_a_named_phase_brings_the_phases_it_depends_on():
    from migrate.project import Project
    from migrate.rehearsal.run import with_dependencies

    plan = Project(Path(__file__).resolve().parents[2]).plan  # the reference project
    assert [p.name for p in with_dependencies(plan, ["open-inventory"])] == ["master-data", "open-inventory"]
    assert [p.name for p in with_dependencies(plan, [])] == [p.name for p in plan.phases]


def _record(name: str, fingerprint: str, rejects: dict, differences: int, seconds: float):
    from migrate.rehearsal.record import Rehearsal

    return Rehearsal.from_dict({
        "format": 1, "name": name, "started_at": name, "seconds": seconds, "target": "sqlite://",
        "operator": "qa", "phases": ["p"], "project_fingerprint": "x", "files": {"mappings/values/unit.yaml": name},
        "sources": [{"source": "lots", "fingerprint": fingerprint, "rows": 10, "size": 100, "unit": "bytes",
                     "where": "fixtures/legacy/批次台账.xlsx"}],
        "steps": [{"phase": "p", "step": "map", "seconds": seconds, "items": {}}],
        "entities": [{"entity": "material_lot", "phase": "p", "source_rows": 10, "mapped": 5, "rejected": 5,
                      "filtered": 0, "rejected_by_reason": rejects, "loaded": 5}],
        "variances": [{"entity": "material_lot", "ok": not differences, "differences": differences, "by_kind": {}}],
        "traceability": {}, "gates": {}, "approved": [],
    })  # fmt: skip


def test_compare_names_every_kind_of_change():
    from migrate.rehearsal.compare import compare

    a = _record("a", "f1", {"invalid_date": 3, "unknown_value": 2}, 0, 2.0)
    b = _record("b", "f2", {"invalid_date": 4, "duplicate_key": 1}, 2, 3.0)
    result = compare(a, b)
    assert {(r.reason, r.change) for r in result.rejects} == {
        ("invalid_date", "up"), ("unknown_value", "gone"), ("duplicate_key", "new")
    }  # fmt: skip
    assert [(v.entity, v.change) for v in result.variances] == [("material_lot", "opened")]
    back = compare(b, a)
    assert back.variances[0].change == "closed"
    assert {r.reason: r.change for r in back.rejects}["invalid_date"] == "down"
    assert [(d.step, d.delta) for d in result.durations] == [("map", 1.0)]
    assert [(i.kind, i.name) for i in result.inputs] == [
        ("source", "lots (fixtures/legacy/批次台账.xlsx)"), ("value map", "mappings/values/unit.yaml")
    ]  # fmt: skip
