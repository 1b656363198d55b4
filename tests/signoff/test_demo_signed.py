"""`migrate demo` ends with a signed, four-eyes approved phase and an evidence pack it verifies."""

from __future__ import annotations

import json
import subprocess

from typer.testing import CliRunner

from migrate.cli.app import app


def test_the_demo_signs_approves_and_verifies_its_evidence(tmp_path):
    folder = tmp_path / "demo"
    result = CliRunner().invoke(app, ["--json", "demo", "--rows", "200", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    evidence = data["evidence"]
    assert evidence["phase"] == "go-live-delta" and evidence["verified"]["ok"]
    assert evidence["verified"]["signatures"] == 2 and data["phases"][-1]["approve"]["approved"]
    gates = {g["gate"]: g for g in data["phases"][-1]["approve"]["gates"]}
    assert gates["signatures"]["met"] and "wang.fang" in gates["signatures"]["detail"]
    again = CliRunner().invoke(app, ["evidence", "verify", evidence["pack"]])
    assert again.exit_code == 0 and "evidence pack intact" in again.output
    # the auditor's way: OpenSSH alone, with the pack's allowed signers
    pack = folder / "evidence" / "go-live-delta"
    statement = next((pack / "signatures").glob("*-zhang.wei-lead-approved.json"))
    verify = ["ssh-keygen", "-Y", "verify", "-f", str(pack / "signatures" / "allowed_signers")]
    verify += ["-I", "zhang.wei", "-n", "migrate-evidence", "-s", f"{statement}.sig"]
    assert subprocess.run(verify, stdin=statement.open("rb"), capture_output=True).returncode == 0
