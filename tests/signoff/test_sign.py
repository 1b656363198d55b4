"""`migrate sign`: SSHSIG signatures by the real ssh-keygen, both ways, and every refusal (T18)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from migrate.db import make_engine
from migrate.evidence.record import phase_evidence
from migrate.model import signature
from migrate.project import Project
from tests.signoff.helpers import cli, keygen, reference_project, write_people

PHASE = "master-data"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    base = tmp_path_factory.mktemp("sign")
    root = reference_project(base / "project")
    keys = {n: keygen(base / "keys", n) for n in ("qa1", "lead1", "outsider")}
    keys["locked"] = keygen(base / "keys", "locked", passphrase="s3cret pass")
    write_people(
        root,
        {
            "qa1": (["qa"], keys["qa1"]),
            "lead1": (["lead"], keys["lead1"]),
            "locked": (["qa"], keys["locked"]),
        },
        passphrase_env="TEST_SIGNING_PASSPHRASE",
    )
    assert cli(root, "phase", "run", PHASE).exit_code == 0
    return root, keys


def stored(root: Path, sig_id: int):
    engine = make_engine(Project(root).target_url)
    with engine.connect() as c:
        row = c.execute(select(signature).where(signature.c.id == sig_id)).one()
    engine.dispose()
    return row


def test_a_signature_by_migrate_verifies_with_ssh_keygen(project, tmp_path):
    root, keys = project
    result = cli(
        root, "--json", "sign", PHASE, "--as", "qa", "--meaning", "reviewed", "--key", str(keys["qa1"])
    )
    assert result.exit_code == 0, result.output
    sig = json.loads(result.stdout)["signature"]
    assert (sig["signer"], sig["role"], sig["meaning"], sig["printed_name"]) == (
        "qa1",
        "qa",
        "reviewed",
        "Qa1",
    )
    row = stored(root, sig["id"])
    statement, armored = tmp_path / "statement.json", tmp_path / "statement.json.sig"
    statement.write_text(row.statement)
    armored.write_text(row.signature)
    allowed = tmp_path / "allowed_signers"
    assert cli(root, "people", "allowed-signers", "--out", str(allowed)).exit_code == 0
    ssh = ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-n", "migrate-evidence", "-s", str(armored)]
    ok = subprocess.run([*ssh, "-I", "qa1"], stdin=statement.open("rb"), capture_output=True, text=True)
    assert ok.returncode == 0 and 'Good "migrate-evidence" signature for qa1' in ok.stdout
    assert subprocess.run([*ssh, "-I", "lead1"], stdin=statement.open("rb"), capture_output=True).returncode
    fields = json.loads(row.statement)
    assert fields["evidence_sha256"] == phase_evidence(Project(root), PHASE).sha256 == row.evidence_sha256
    assert (fields["role"], fields["meaning"], fields["signer"]) == ("qa", "reviewed", "qa1")


def test_a_signature_by_ssh_keygen_is_accepted(project, tmp_path):
    root, keys = project
    statement = tmp_path / "statement.json"
    public = f"{keys['lead1']}.pub"  # a public key is enough to prepare (ssh-agent signs with it too)
    prepared = cli(
        root,
        "sign",
        PHASE,
        "--as",
        "lead",
        "--meaning",
        "approved",
        "--key",
        public,
        "--prepare",
        str(statement),
    )
    assert prepared.exit_code == 0, prepared.output
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-Y",
            "sign",
            "-f",
            str(keys["lead1"]),
            "-n",
            "migrate-evidence",
            str(statement),
        ],
        check=True,
    )
    accepted = cli(root, "--json", "sign", PHASE, "--statement", str(statement))
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["signature"]["signer"] == "lead1"


def test_a_passphrase_comes_from_the_variable_the_project_names(project):
    root, keys = project
    args = ("sign", PHASE, "--as", "qa", "--meaning", "reviewed", "--key", str(keys["locked"]))
    good = cli(root, *args, env={"TEST_SIGNING_PASSPHRASE": "s3cret pass"})
    assert good.exit_code == 0, good.output
    bad = cli(root, *args, env={"TEST_SIGNING_PASSPHRASE": "wrong"})
    assert bad.exit_code == 2 and "ssh-keygen could not sign" in bad.output
    assert "TEST_SIGNING_PASSPHRASE" in bad.output and "wrong" not in bad.output


def test_a_key_not_in_the_project_is_refused(project):
    root, keys = project
    result = cli(root, "sign", PHASE, "--as", "qa", "--meaning", "reviewed", "--key", str(keys["outsider"]))
    assert result.exit_code == 1 and "is not declared for anyone in people.yaml" in result.output


def test_a_person_without_the_role_is_refused(project):
    root, keys = project
    result = cli(root, "sign", PHASE, "--as", "lead", "--meaning", "approved", "--key", str(keys["qa1"]))
    assert result.exit_code == 1 and "qa1 does not hold the role lead" in result.output


def _signed_outside(root: Path, key: Path, statement: Path, edit: tuple[bytes, bytes] | None = None) -> None:
    """Prepare a statement with migrate (optionally edited), sign it with ssh-keygen itself."""
    args = ("--as", "qa", "--meaning", "reviewed", "--key", str(key))
    assert cli(root, "sign", PHASE, *args, "--prepare", str(statement)).exit_code == 0
    if edit:
        statement.write_bytes(statement.read_bytes().replace(*edit))
    subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", "migrate-evidence", str(statement)],
        check=True,
    )


def test_a_signature_over_changed_evidence_is_refused(project, tmp_path):
    root, keys = project
    statement = tmp_path / "statement.json"
    _signed_outside(root, keys["qa1"], statement)
    value_map = root / "mappings" / "values" / "country.yaml"
    before = value_map.read_bytes()
    value_map.write_bytes(before + b"\n# edited after the review\n")
    try:
        result = cli(root, "sign", PHASE, "--statement", str(statement))
    finally:
        value_map.write_bytes(before)
    assert result.exit_code == 1 and "the evidence changed since" in result.output


def test_a_role_claimed_in_an_outside_statement_is_checked(project, tmp_path):
    root, keys = project
    statement = tmp_path / "statement.json"
    # qa1's own, good signature over a statement claiming the lead role, which qa1 does not hold
    _signed_outside(root, keys["qa1"], statement, edit=(b'"role":"qa"', b'"role":"lead"'))
    result = cli(root, "sign", PHASE, "--statement", str(statement))
    assert result.exit_code == 1 and "qa1 does not hold the role lead" in result.output


def test_a_statement_edited_after_signing_is_refused(project, tmp_path):
    root, keys = project
    statement = tmp_path / "statement.json"
    _signed_outside(root, keys["qa1"], statement)
    statement.write_bytes(statement.read_bytes().replace(b'"reviewed"', b'"rejected"'))
    result = cli(root, "sign", PHASE, "--statement", str(statement))
    assert result.exit_code == 1 and "ssh-keygen does not verify it as signed by qa1" in result.output
