"""The demo's signatures: two people with keys made by ssh-keygen in the demo folder, a signed
and four-eyes approved last phase, and its evidence pack, verified offline.

The demo's operator loads every phase; a QA reviewer and a project lead, neither of whom
loaded anything, sign the last phase's evidence before it is approved.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from migrate.evidence.check import PackCheck, verify_pack
from migrate.evidence.pack import build
from migrate.people import PEOPLE_FILE
from migrate.project import PLAN_FILE, Project
from migrate.signing import sign, ssh_keygen

KEYS_DIR, EVIDENCE_DIR = "keys", "evidence"
SIGNERS = (  # name, printed name, role, meaning
    ("wang.fang", "王芳 (QA)", "qa", "reviewed"),
    ("zhang.wei", "张伟 (project lead)", "lead", "approved"),
)


@dataclass(frozen=True)
class DemoEvidence:
    phase: str
    signers: tuple[str, ...]
    pack: Path
    check: PackCheck

    def to_dict(self) -> dict:
        return {"phase": self.phase, "signers": list(self.signers), "pack": str(self.pack)} | {
            "verified": self.check.to_dict()
        }


def _keygen(key: Path, name: str) -> None:
    subprocess.run(
        [ssh_keygen(), "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@demo", "-f", str(key)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def set_up(directory: Path) -> str:
    """Keys and people.yaml for the signers; the plan's last phase needs their signatures.
    Returns that phase's name."""
    keys = directory / KEYS_DIR
    for made in (keys, directory / EVIDENCE_DIR):  # ours, from an earlier demo run
        shutil.rmtree(made, ignore_errors=True)
    keys.mkdir(parents=True)
    people = []
    for name, printed, role, _ in SIGNERS:
        _keygen(keys / name, name)
        key = (keys / f"{name}.pub").read_text().strip()
        people.append({"name": name, "printed_name": printed, "roles": [role], "key": key})
    header = "# Written by `migrate demo`: the demo's signers, their roles and public keys (keys/).\n"
    (directory / PEOPLE_FILE).write_text(header + yaml.safe_dump({"people": people}, allow_unicode=True))
    plan_file = directory / PLAN_FILE
    plan = yaml.safe_load(plan_file.read_text(encoding="utf-8"))
    last = plan["phases"][-1]
    last["signatures"] = [{"role": role, "meaning": meaning} for _, _, role, meaning in SIGNERS]
    note = "# The reference plan, with the signatures `migrate demo` requires of the last phase.\n"
    plan_file.write_text(note + yaml.safe_dump(plan, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return last["name"]


def sign_phase(project: Project, phase: str) -> None:
    """Each signer signs the phase's evidence with their demo key."""
    for name, _, role, meaning in SIGNERS:
        key = project.root / KEYS_DIR / name
        sign(project, phase, role=role, meaning=meaning, key=key, operator=name)


def evidence(project: Project, phase: str, operator: str) -> DemoEvidence:
    """The approved phase's evidence pack, checked offline as an auditor would."""
    out = project.root / EVIDENCE_DIR / phase
    build(project, phase, out, operator=operator)
    return DemoEvidence(phase, tuple(s[0] for s in SIGNERS), out, verify_pack(out))
