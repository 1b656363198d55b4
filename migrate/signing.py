"""Signatures with meaning over a phase's evidence (docs/guarantees.md#signed-decisions; Part 11 §11.50, §11.70).

A signature is OpenSSH's SSHSIG over a *statement*: canonical JSON naming the phase, the
SHA-256 of its evidence record, the signer, their printed name, role and meaning, the UTC
time and where the audit chain stood. So the manifestation is signed with the evidence, and
`ssh-keygen -Y verify -f allowed_signers -I <person> -n migrate-evidence -s SIG < STATEMENT`
checks it with no Python at all.

Signing and verifying both call `ssh-keygen`, as git does: passphrase prompts, ssh-agent (a
public key as --key) and hardware keys come for free, nothing of the SSHSIG format is written
here, and migrate accepts exactly what an auditor's `ssh-keygen` accepts (the `sshsig` PyPI
package would be a second implementation that could disagree with it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, select

from migrate import anchors, audit
from migrate.db import make_engine
from migrate.errors import CheckFailed, ConfigError
from migrate.evidence.record import canonical, phase_evidence
from migrate.model import audit_head, signature
from migrate.people import NAMESPACE, PERSON, ROLE, People, fingerprint, load_people
from migrate.project import Project

MEANINGS = ("reviewed", "approved", "rejected")
STATEMENT_FORMAT = "migrate-signature/1"
MAX_STATEMENT = 64 * 1024  # a statement and its armored signature are a few hundred bytes


def ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if not found:
        raise ConfigError(
            "ssh-keygen is not installed: signatures are made and checked with OpenSSH.",
            hint="Install OpenSSH's client (Debian: apt-get install openssh-client).",
        )
    return found


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no message"


def sign_bytes(data: bytes, key: Path, passphrase_env: str | None = None) -> str:
    """SSHSIG over `data` by `ssh-keygen -Y sign`: a private key file (ssh-keygen prompts for its
    passphrase on the terminal, or reads it from the environment variable `passphrase_env`), or
    a public key whose private half is in ssh-agent. Returns the armored signature."""
    with tempfile.TemporaryDirectory(prefix="migrate-sign-") as tmp:
        message = Path(tmp) / "statement.json"
        message.write_bytes(data)
        env = dict(os.environ)
        if passphrase_env and passphrase_env in os.environ:
            # ssh-keygen asks SSH_ASKPASS for the passphrase: it never appears in argv or on a pipe.
            askpass = Path(tmp) / "askpass"
            askpass.write_text(f"#!/bin/sh\nprintenv {passphrase_env}\n")
            askpass.chmod(0o700)
            env |= {"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
        done = subprocess.run(
            [ssh_keygen(), "-q", "-Y", "sign", "-f", str(key), "-n", NAMESPACE, str(message)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        sig = message.with_name("statement.json.sig")
        if done.returncode != 0 or not sig.exists():
            # ssh-keygen's prompt has no newline: it would open the message
            said = _PROMPT.sub("", _last_line(done.stderr))
            raise ConfigError(
                f"ssh-keygen could not sign with {key}: {said}.", hint=_sign_hint(passphrase_env)
            )
        return sig.read_text()


_PROMPT = re.compile(r"^Enter passphrase[^:]*:\s*")


def _sign_hint(passphrase_env: str | None) -> str:
    if passphrase_env and passphrase_env not in os.environ:
        return (
            f"A key with a passphrase needs it: export {passphrase_env} (people.yaml's "
            "passphrase_env; not set now), or run `migrate sign` at a terminal to type it."
        )
    return "Check the key path and its passphrase" + (
        f" (environment variable {passphrase_env})." if passphrase_env else "."
    )


def verify_bytes(allowed_signers: str, principal: str, data: bytes, armored: str) -> str | None:
    """`ssh-keygen -Y verify`: None if `principal` signed `data`, else OpenSSH's reason."""
    with tempfile.TemporaryDirectory(prefix="migrate-verify-") as tmp:
        allowed, sig = Path(tmp) / "allowed_signers", Path(tmp) / "statement.sig"
        allowed.write_text(allowed_signers)
        sig.write_text(armored)
        command = [ssh_keygen(), "-Y", "verify", "-f", str(allowed), "-I", principal, "-n", NAMESPACE]
        done = subprocess.run([*command, "-s", str(sig)], input=data, capture_output=True)
    if done.returncode == 0:
        return None
    return _last_line(done.stderr.decode(errors="replace") or done.stdout.decode(errors="replace"))


def public_key_line(key: Path) -> str:
    """The public half of --key: the file itself when it is a public key, else KEY.pub beside it."""
    for path in (key, Path(f"{key}.pub")):
        try:
            first = path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        if first.startswith("ssh-"):
            return first.splitlines()[0]
    raise ConfigError(
        f"no public key for {key}: expected an OpenSSH public key in {key} or {key}.pub.",
        hint="Give --key the private key with its .pub beside it, or the .pub itself (ssh-agent).",
    )


@dataclass(frozen=True)
class Statement:
    """What a signature says, as signed: the exact bytes and their fields."""

    data: bytes
    fields: dict

    @classmethod
    def parse(cls, data: bytes, where: str) -> Statement:
        """A statement from outside (a file, a pack), its fields checked before any is shown."""
        try:
            fields = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise CheckFailed(f"{where} is not a migrate signature statement (not JSON).") from None
        if not isinstance(fields, dict) or fields.get("format") != STATEMENT_FORMAT:
            raise CheckFailed(f"{where} is not a migrate signature statement ({STATEMENT_FORMAT}).")
        for name, pattern in _FIELDS.items():
            value = fields.get(name)
            if not isinstance(value, str) or not re.fullmatch(pattern, value):
                raise CheckFailed(f"{where}: its field {name} is missing or not valid.")
        return cls(data, fields)

    phase = property(lambda self: self.fields["phase"])
    evidence_sha256 = property(lambda self: self.fields["evidence_sha256"])
    signer = property(lambda self: self.fields["signer"])
    role = property(lambda self: self.fields["role"])
    meaning = property(lambda self: self.fields["meaning"])
    signed_at = property(lambda self: self.fields["signed_at"])
    key = property(lambda self: self.fields["key"])


_FIELDS = {  # what a statement from outside must hold, and in what shape
    "phase": r"[a-z0-9][a-z0-9_\-]{0,62}",
    "evidence_sha256": r"[0-9a-f]{64}",
    "signer": PERSON,
    "role": ROLE,
    "meaning": "|".join(MEANINGS),
    "signed_at": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00",
    "printed_name": r"[^\x00-\x1f]{1,200}",
    "key": r"SHA256:[A-Za-z0-9+/]{43}",
}


def statement(
    project: Project, phase: str, evidence_sha256: str, person, role: str, meaning: str, comment: str
) -> Statement:
    """The canonical statement a person signs, with the audit chain's present head."""
    engine = make_engine(project.target_url)
    try:
        with engine.connect() as c:
            head = c.execute(select(audit_head.c.seq, audit_head.c.hash)).first()
    finally:
        engine.dispose()
    fields = {
        "format": STATEMENT_FORMAT,
        "namespace": NAMESPACE,
        "project": project.spec.name,
        "phase": phase,
        "evidence_sha256": evidence_sha256,
        "signer": person.name,
        "printed_name": person.shown,
        "role": role,
        "meaning": meaning,
        "comment": comment,
        "signed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "key": person.fingerprint,
        "audit": {"seq": head.seq if head else 0, "head": head.hash if head else audit.GENESIS},
    }
    return Statement(canonical(fields), fields)


def check(people: People, allowed: str, stmt: Statement, armored: str, evidence_sha256: str) -> str | None:
    """Why this signature does not count for the evidence `evidence_sha256` (None: it does)."""
    try:
        person = people.person(stmt.signer)
    except ConfigError:
        return f"{stmt.signer} is not a person declared in people.yaml"
    if stmt.role not in person.roles:
        return f"{person.name} does not hold the role {stmt.role} (roles: {', '.join(person.roles)})"
    if stmt.meaning not in MEANINGS:
        return f"the meaning {stmt.meaning!r} is not one of {', '.join(MEANINGS)}"
    refused = verify_bytes(allowed, person.name, stmt.data, armored)
    if refused:
        return f"ssh-keygen does not verify it as signed by {person.name}'s key: {refused}"
    if stmt.evidence_sha256 != evidence_sha256:
        return (
            f"it signs evidence {stmt.evidence_sha256[:12]}, but the phase's evidence is now "
            f"{evidence_sha256[:12]} (the evidence changed since)"
        )
    return None


@dataclass(frozen=True)
class Signature:
    id: int
    phase: str
    signer: str
    printed_name: str
    role: str
    meaning: str
    signed_at: datetime
    evidence_sha256: str
    key_fingerprint: str
    statement: str
    signature: str

    @property
    def comment(self) -> str:
        return json.loads(self.statement).get("comment", "")

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("statement", "signature")}
        return out | {"signed_at": self.signed_at.isoformat(), "comment": self.comment}


def signatures(engine: Engine, phase: str | None = None) -> list[Signature]:
    query = select(signature).order_by(signature.c.id)
    if phase is not None:
        query = query.where(signature.c.phase == phase)
    with engine.connect() as c:
        return [Signature(*row) for row in c.execute(query)]


@dataclass(frozen=True)
class SignResult:
    signature: Signature
    evidence_sha256: str
    audit_seq: int

    def to_dict(self) -> dict:
        return {"ok": True, "signature": self.signature.to_dict(), "audit_seq": self.audit_seq}


def _store(project: Project, stmt: Statement, armored: str, operator: str) -> SignResult:
    """The signature, its audit entry and an anchor, in one transaction."""
    values = {k: stmt.fields[k] for k in ("phase", "signer", "printed_name", "role", "meaning")}
    at = datetime.fromisoformat(stmt.signed_at)
    values |= {"signed_at": at, "evidence_sha256": stmt.evidence_sha256, "key_fingerprint": stmt.key}
    values |= {"statement": stmt.data.decode(), "signature": armored}
    engine = make_engine(project.target_url)
    try:
        with engine.begin() as conn:
            sig_id = conn.execute(insert(signature).values(**values)).inserted_primary_key[0]
            details = {"signature_id": sig_id, "evidence_sha256": stmt.evidence_sha256}
            details |= {k: values[k] for k in ("phase", "signer", "role", "meaning")}
            entry = audit.append(conn, operator, "sign", details)
            anchors.anchor(conn, "signature", f"{sig_id}")
    finally:
        engine.dispose()
    return SignResult(Signature(sig_id, **values), stmt.evidence_sha256, entry.seq)


def _accept(project: Project, people: People, stmt: Statement, armored: str, operator: str) -> SignResult:
    """Check a statement and its signature against the phase's *current* evidence; store it."""
    from migrate.people import allowed_signers

    evidence = phase_evidence(project, stmt.phase)
    problem = check(people, allowed_signers(people), stmt, armored, evidence.sha256)
    if problem:
        raise CheckFailed(f"signature refused: {problem}.")
    return _store(project, stmt, armored, operator)


def _signer(people: People, key: Path):
    line = public_key_line(key)
    person = people.by_key(line)
    if person is None:
        raise CheckFailed(
            f"signature refused: the key {fingerprint(line)} ({key}) is not declared for anyone in people.yaml."
        )
    return person


def _may_sign(person, role: str, meaning: str) -> None:
    if meaning not in MEANINGS:
        raise ConfigError(f"--meaning is one of {', '.join(MEANINGS)}, not {meaning!r}.")
    if role not in person.roles:
        raise CheckFailed(
            f"signature refused: {person.name} does not hold the role {role} (roles: {', '.join(person.roles)})."
        )


def _require_loaded(project: Project, phase: str) -> None:
    """A phase is signed once loaded: before, its evidence holds no rows to review, and the
    load that follows changes it, so the signature would count for nothing (superseded)."""
    from migrate.phase import entity_states

    engine = make_engine(project.target_url)
    try:
        waiting = [
            e for e in entity_states(engine, project.plan.phase(phase).entities) if e.state != "loaded"
        ]
    finally:
        engine.dispose()
    if waiting:
        shown = ", ".join(f"{e.entity} {e.state}" for e in waiting)
        raise CheckFailed(
            f"signature refused: phase {phase} is not loaded ({shown}), so there is nothing to sign "
            "yet, and its evidence will change when it is.",
            hint=f"Run `migrate phase run {phase}` (or finish its load), check it, then sign.",
        )


def sign(
    project: Project,
    phase: str,
    *,
    role: str,
    meaning: str,
    key: Path,
    comment: str = "",
    operator: str = "unknown",
) -> SignResult:
    """Sign the phase's current evidence as `role` with `meaning`, by the person whose key it is."""
    people = load_people(project)
    project.plan.phase(phase)
    person = _signer(people, key)
    _may_sign(person, role, meaning)
    _require_loaded(project, phase)
    evidence = phase_evidence(project, phase)
    stmt = statement(project, phase, evidence.sha256, person, role, meaning, comment)
    armored = sign_bytes(stmt.data, key, people.spec.passphrase_env)
    return _accept(project, people, stmt, armored, operator)


def prepare(
    project: Project, phase: str, *, role: str, meaning: str, key: Path, comment: str = ""
) -> Statement:
    """The statement for a signature made outside migrate (`ssh-keygen -Y sign` on the file)."""
    people = load_people(project)
    person = _signer(people, key)
    _may_sign(person, role, meaning)
    _require_loaded(project, project.plan.phase(phase).name)
    evidence = phase_evidence(project, phase)
    return statement(project, phase, evidence.sha256, person, role, meaning, comment)


def attach(project: Project, statement_file: Path, signature_file: Path, operator: str) -> SignResult:
    """Accept a statement signed by `ssh-keygen -Y sign` outside migrate."""
    try:
        for path in (statement_file, signature_file):
            if path.stat().st_size > MAX_STATEMENT:
                raise ConfigError(
                    f"{path} is larger than a signature statement can be ({MAX_STATEMENT} bytes)."
                )
        data, armored = statement_file.read_bytes(), signature_file.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {exc.filename}: {exc.strerror}.") from None
    stmt = Statement.parse(data, str(statement_file))
    _require_loaded(project, project.plan.phase(stmt.phase).name)
    return _accept(project, load_people(project), stmt, armored, operator)
