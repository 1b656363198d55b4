"""Evidence packs: a fresh pack verifies offline; one byte changed in any file, a signature
removed, an audit entry dropped are each found and named (T18)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from migrate.evidence.check import verify_pack
from migrate.evidence.pack import seal
from migrate.evidence.record import sha256
from tests.signoff.helpers import cli, keygen, reference_project, require_signatures, write_people

PHASE = "master-data"


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> Path:
    """master-data loaded, signed by qa1 and lead1, approved; its pack written."""
    base = tmp_path_factory.mktemp("evidence")
    root = reference_project(base / "project")
    keys = {n: keygen(base / "keys", n) for n in ("qa1", "lead1")}
    write_people(root, {"qa1": (["qa"], keys["qa1"]), "lead1": (["lead"], keys["lead1"])})
    require_signatures(
        root, PHASE, [{"role": "qa", "meaning": "reviewed"}, {"role": "lead", "meaning": "approved"}]
    )
    assert cli(root, "phase", "run", PHASE).exit_code == 0
    for who, role, meaning in (("qa1", "qa", "reviewed"), ("lead1", "lead", "approved")):
        signed = cli(root, "sign", PHASE, "--as", role, "--meaning", meaning, "--key", str(keys[who]))
        assert signed.exit_code == 0, signed.output
    assert cli(root, "phase", "approve", PHASE).exit_code == 0
    made = cli(root, "--json", "evidence", PHASE, "--out", str(base / "pack"))
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["point"] == PHASE
    zipped = cli(root, "evidence", PHASE, "--out", str(base / "pack.zip"))
    assert zipped.exit_code == 0, zipped.output
    assert cli(root, "audit", "verify").exit_code == 0  # the packs are in the log, anchored
    return base / "pack"


def copy(pack: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pack, tmp_path / "copy"))


def reseal(folder: Path) -> None:
    """What a careful forger does after an edit: every hash and the manifest's seal made anew."""
    manifest = json.loads((folder / "manifest.json").read_text())
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest["files"] = {p.relative_to(folder).as_posix(): sha256(p.read_bytes()) for p in files}
    (folder / "manifest.json").write_bytes(seal(manifest))


def test_a_fresh_pack_verifies_offline(pack):
    for path in (pack, pack.with_suffix(".zip")):
        result = cli(
            pack.parent / "nowhere", "--json", "evidence", "verify", str(path)
        )  # no project, no target
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["ok"] and data["signatures"] == 2 and data["audit_entries"] > 3
    names = {p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()}
    expected = {"manifest.json", "evidence.json", "gates.json", "point.json", "index.html"}
    expected |= {"rejects/summary.json", "rejects/rejects.xlsx", "reconcile/reconcile.json"}
    expected |= {"reconcile/reconcile.xlsx", "reconcile/traceability.json", "audit/entries.jsonl"}
    expected |= {"audit/head.json", "signatures/allowed_signers", "signatures/people.json"}
    assert expected <= names and len([n for n in names if n.endswith(".sig")]) == 2


def test_one_byte_changed_in_any_file_is_named(pack, tmp_path):
    names = sorted(p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file())
    assert len(names) >= 18
    for name in names:
        folder = tmp_path / name.replace("/", "_")
        shutil.copytree(pack, folder)
        data = bytearray((folder / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        (folder / name).write_bytes(bytes(data))
        result = verify_pack(folder)
        assert not result.ok and any(p.startswith(name) for p in result.problems), (name, result.problems)
    result = cli(tmp_path, "evidence", "verify", str(tmp_path / "index.html"))
    assert result.exit_code == 1 and "index.html differs" in result.output


def test_a_removed_signature_is_named(pack, tmp_path):
    folder = copy(pack, tmp_path)
    gone = sorted((folder / "signatures").glob("*-qa1-*"))
    for path in gone:
        path.unlink()
    result = verify_pack(folder)
    assert f"signatures/{gone[0].name} is missing" in result.problems
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["signatures"] = [s for s in manifest["signatures"] if s["signer"] != "qa1"]
    (folder / "manifest.json").write_bytes(seal(manifest))
    reseal(folder)
    problems = verify_pack(folder).problems
    assert any(
        "(qa1, qa reviewed) is in the pack's audit log but missing from the pack" in p for p in problems
    )


def test_a_dropped_audit_entry_is_named(pack, tmp_path):
    folder = copy(pack, tmp_path)
    entries = folder / "audit" / "entries.jsonl"
    lines = entries.read_text().splitlines(keepends=True)
    entries.write_text("".join(lines[:2] + lines[3:]))
    reseal(folder)
    problems = verify_pack(folder).problems
    assert any(p.startswith("the audit log in the pack is not intact at entry 3") for p in problems), problems


def test_the_last_sign_entry_dropped_with_the_head_rewritten_is_named(pack, tmp_path):
    folder = copy(pack, tmp_path)
    entries = folder / "audit" / "entries.jsonl"
    rows = [json.loads(line) for line in entries.read_text().splitlines()]
    last_sign = max(i for i, r in enumerate(rows) if r["command"] == "sign")
    kept = rows[:last_sign]
    entries.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
    (folder / "audit" / "head.json").write_text(
        json.dumps({"seq": kept[-1]["seq"], "hash": kept[-1]["hash"]})
    )
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["audit"] = {"seq": kept[-1]["seq"], "head": kept[-1]["hash"]}
    (folder / "manifest.json").write_bytes(seal(manifest))
    reseal(folder)
    problems = verify_pack(folder).problems
    assert any("lead1-lead-approved.json has no sign entry in the pack's audit log" in p for p in problems)


def test_the_page_is_self_contained(pack):
    page = (pack / "index.html").read_text()
    assert "<script" not in page and "<link" not in page and "http" not in page and "url(" not in page
    assert "Qa1" in page and "lead approved" in page and "phase master-data" in page


@pytest.mark.parametrize("damage", ["details", "key"])
def test_a_damaged_sign_entry_is_named_not_raised(pack, tmp_path, damage):
    """One flipped byte inside a sign entry can leave the line valid JSON while its details, or
    a key, no longer are: the pack is reported as not intact, never an exception."""
    folder = copy(pack, tmp_path)
    entries = folder / "audit" / "entries.jsonl"
    rows = [json.loads(line) for line in entries.read_text().splitlines()]
    signed = next(r for r in rows if r["command"] == "sign")
    if damage == "details":
        signed["details"] = signed["details"].replace('"', "!", 1)
    else:
        signed["commanc"] = signed.pop("command")
    entries.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = verify_pack(folder)
    assert not result.ok
    assert any(p.startswith("audit/entries.jsonl") for p in result.problems), result.problems
