"""The status object of a cutover half way (`phase status --json`), and the ETA: the last
rehearsal's step timings scaled by the sources' sizes now, plus the runbook and rollback minutes."""

from __future__ import annotations

import shutil

import pytest

from migrate import db
from migrate.db import make_engine
from migrate.demo import prepare
from migrate.project import Project
from tests.board.conftest import cli, cli_json

MOVEMENTS = "fixtures/legacy/库存流水.csv"


@pytest.fixture(scope="module")
def halfway(rehearsed, tmp_path_factory):
    """The same estate (500 rows, seed 7) in a second project with the rehearsals' records;
    master-data run (`phase run`) but not approved."""
    root = tmp_path_factory.mktemp("halfway") / "project"
    prepare(root, rows=500)
    engine = make_engine(Project(root).target_url)
    db.upgrade(engine)
    engine.dispose()
    shutil.copytree(rehearsed.root / ".migrate/rehearsals", root / ".migrate/rehearsals")
    run = cli_json(root, "phase", "run", "master-data")
    return root, run


def test_phase_run_shows_its_time_against_the_rehearsal(halfway):
    _, run = halfway
    pace = run["pace"]
    assert pace["seconds"] > 0 and pace["expected"]["phase"] == "master-data"
    assert pace["expected"]["automatic_seconds"] > 0 and pace["expected"]["scale"] == 1.0


def test_status_of_a_cutover_half_way(halfway):
    root, _ = halfway
    status = cli_json(root, "phase", "status")
    assert [p["state"] for p in status["phases"]] == [
        "gates met",
        "not started",
        "not started",
        "not started",
    ]
    assert {"phase", "description", "loaded", "approved", "entities", "gates", "point"} <= set(
        status["phases"][0]
    )
    second = {g["gate"]: g for g in status["phases"][1]["gate_values"]}
    assert second["earlier phases approved"] | {"detail": ""} == {
        "gate": "earlier phases approved", "measured": "0/1", "threshold": "all", "met": False, "detail": ""
    }  # fmt: skip
    assert second["entities loaded"]["measured"] == "0/2" and second["entities loaded"]["met"] is False
    rejects = {r["entity"]: r for r in status["rejects"]}
    assert rejects["supplier"]["rejected"] == sum(rejects["supplier"]["by_reason"].values()) > 0
    assert rejects["material_lot"]["rejected"] is None  # not mapped yet
    assert [t["rehearsal"] for t in rejects["equipment_status"]["trend"]] == ["mock-1", "mock-2"]
    legacy = {c["legacy"] for r in status["rejects"] for c in r["by_column"]}
    assert "供应商编码" in legacy  # the project's own (Chinese) column names
    assert status["audit"]["ok"] and status["readiness"]["ready"] is True
    quick = cli_json(root, "phase", "status", "--no-reconcile")
    assert quick["reconcile"] == {"measured": False, "note": "not measured (--no-reconcile)"}
    assert quick["phases"][0]["state"] == "loaded"  # the reconcile gate is not measured


def test_eta_adds_manual_steps_and_scales_by_source_size(halfway):
    root, _ = halfway
    eta = cli_json(root, "phase", "status", "--no-reconcile")["eta"]
    assert eta["rehearsal"] == "mock-2"
    assert [p["manual_minutes"] for p in eta["phases"]] == [30, 30, 35, 10]  # phases/plan.yaml's runbook
    assert all(p["scale"] == 1.0 and p["automatic_seconds"] > 0 for p in eta["phases"])
    assert [(r["at"], r["to"], r["manual_minutes"]) for r in eta["rollbacks"]][:2] == [
        ("master-data", "start", 55), ("open-inventory", "master-data", 25)
    ]  # fmt: skip
    before = {p["phase"]: p for p in eta["phases"]}
    path = root / MOVEMENTS
    data = path.read_bytes()
    path.write_bytes(data + data[data.index(b"\n") + 1 :])  # the same rows again: about twice the bytes
    after = {p["phase"]: p for p in cli_json(root, "phase", "status", "--no-reconcile")["eta"]["phases"]}
    assert 1.2 < after["open-inventory"]["scale"] < 2.0  # movements grew, lots did not
    assert after["open-inventory"]["automatic_seconds"] > before["open-inventory"]["automatic_seconds"]
    assert after["master-data"] == before["master-data"]
    assert cli(root, "report", "--out", str(root / "status.html"), "--no-reconcile").exit_code == 0


def test_the_demos_signatures_are_on_the_board(rehearsed, tmp_path):
    """The demo signs its last phase (migrate.demo_signing): `phase status` shows who signed and
    as what, without the signed text, and the page names them. The fixture fixed a value map
    after the demo, so the evidence they signed is no longer the phase's: not valid, and said so."""
    from migrate.demo_signing import SIGNERS

    phases = cli_json(rehearsed.root, "phase", "status", "--no-reconcile")["phases"]
    signed = phases[-1]["signatures"]["present"]
    expected = {(printed, role, meaning) for _, printed, role, meaning in SIGNERS}
    assert {(s["printed_name"], s["role"], s["meaning"]) for s in signed} == expected
    assert [s["valid"] for s in signed] == [False, False]
    assert all("evidence" in s["problem"] for s in signed)
    assert all("signature" not in s and "statement" not in s for s in signed)
    assert all(p["signatures"] is None or not p["signatures"]["present"] for p in phases[:-1])
    out = tmp_path / "signed.html"
    assert cli(rehearsed.root, "report", "--out", str(out), "--no-reconcile").exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert all(printed.split(" (")[0] in page for _, printed, _, _ in SIGNERS)
    assert page.count("not valid:") == 2
