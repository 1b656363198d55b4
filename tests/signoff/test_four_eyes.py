"""Signature gates and four-eyes on `phase approve`, and `phase status` showing them live,
on SQLite and PostgreSQL (the signatures and load runs live in the target)."""

from __future__ import annotations

import json

from tests.signoff.helpers import cli, keygen, reference_project, require_signatures, write_people


def test_four_eyes_and_signature_gates(target_url, tmp_path):
    root = reference_project(tmp_path / "project", target_url)
    keys = {n: keygen(tmp_path / "keys", n) for n in ("qa1", "lead1", "lead2")}
    write_people(
        root,
        {
            "qa1": (["qa"], keys["qa1"]),
            "lead1": (["lead", "qa"], keys["lead1"]),
            "lead2": (["lead"], keys["lead2"]),
        },
    )
    require_signatures(
        root, "master-data", [{"role": "qa", "meaning": "reviewed"}, {"role": "lead", "meaning": "approved"}]
    )
    require_signatures(root, "open-inventory", [{"role": "lead", "meaning": "approved"}])

    def run(*args, operator="lead1"):
        return cli(root, "--target", target_url, *args, operator=operator)

    def sign(phase, who, role, meaning):
        result = run("sign", phase, "--as", role, "--meaning", meaning, "--key", str(keys[who]), operator=who)
        assert result.exit_code == 0, result.output

    assert run("phase", "run", "master-data").exit_code == 0  # lead1 loads it
    unsigned = run("phase", "approve", "master-data")
    assert unsigned.exit_code == 1 and "signatures (missing: qa reviewed, lead approved)" in unsigned.output

    sign("master-data", "lead1", "qa", "reviewed")
    sign("master-data", "lead1", "lead", "approved")
    one_person = run("phase", "approve", "master-data")
    assert one_person.exit_code == 1 and "need different people" in one_person.output

    status = json.loads(run("--json", "phase", "status").stdout)["phases"][0]
    assert {"phase", "description", "loaded", "approved", "entities", "gates", "point"} <= set(status)
    gates = {g["gate"]: g for g in status["gate_results"]}
    assert gates["entities loaded"]["measured"] == 4 and gates["entities loaded"]["met"]
    assert gates["reconcile"]["measured"] == 0 and gates["signatures"]["met"] is False
    assert status["signatures"]["loaders"] == ["lead1"]
    assert [s["valid"] for s in status["signatures"]["present"]] == [True, True]

    sign("master-data", "qa1", "qa", "reviewed")
    approved = run("phase", "approve", "master-data")
    assert approved.exit_code == 0, approved.output  # qa1 and lead1: two people

    assert run("phase", "run", "open-inventory").exit_code == 0
    sign("open-inventory", "lead1", "lead", "approved")
    alone = run("phase", "approve", "open-inventory")
    assert alone.exit_code == 1 and "lead1 loaded the phase and cannot be its only approver" in alone.output
    sign("open-inventory", "lead2", "lead", "approved")
    assert run("phase", "approve", "open-inventory").exit_code == 0

    pack = tmp_path / "open-inventory.zip"  # the pack reads the target (this backend) once
    assert run("evidence", "open-inventory", "--out", str(pack)).exit_code == 0
    verified = run("--json", "evidence", "verify", str(pack))
    assert verified.exit_code == 0 and json.loads(verified.stdout)["signatures"] == 2, verified.output

    human = run("phase", "status")
    assert "signatures missing: none" in human.output and "gates now" in human.output
    assert run("audit", "verify").exit_code == 0

    assert run("reconcile", "--phase", "master-data").exit_code == 0  # QA's runs are recorded too
    log = json.loads(run("--json", "audit", "log").stdout)["entries"]
    what = {e["command"]: e["what"] for e in log}  # the last entry of each command
    assert (
        what["reconcile"].startswith("phase master-data")
        and "supplier differences=0 ok=True" in what["reconcile"]
    )
    assert (
        "point open-inventory" in what["phase approve"] and "lead2 signed as lead: approved" in what["sign"]
    )
    assert "changed: inventory_movement +" in what["load"]
    assert "changed: inventory_movement +" in run("audit", "log").output


def test_a_valid_rejection_blocks_approval(tmp_path):
    root = reference_project(tmp_path / "project")
    keys = {n: keygen(tmp_path / "keys", n) for n in ("qa1", "lead2")}
    write_people(root, {"qa1": (["qa"], keys["qa1"]), "lead2": (["lead"], keys["lead2"])})
    require_signatures(root, "master-data", [{"role": "lead", "meaning": "approved"}])
    assert cli(root, "phase", "run", "master-data").exit_code == 0
    for who, role, meaning in (("lead2", "lead", "approved"), ("qa1", "qa", "rejected")):
        signed = cli(root, "sign", "master-data", "--as", role, "--meaning", meaning, "--key", str(keys[who]))
        assert signed.exit_code == 0, signed.output
    result = cli(root, "phase", "approve", "master-data")
    assert result.exit_code == 1 and "rejected by qa1 (qa)" in result.output
