"""The signature gate of a phase: required signatures, each valid over the current evidence,
given by different people, not only by whoever loaded the phase (four-eyes, docs/guarantees.md#signed-decisions).

`phases/plan.yaml` declares per phase what is needed:

```yaml
  - name: production-history
    signatures:
      - {role: qa, meaning: reviewed}
      - {role: lead, meaning: approved}
```

A requirement is met by a signature whose statement names that role and meaning, made by a
declared person holding the role, that `ssh-keygen -Y verify` accepts and whose evidence hash
is the phase's evidence *now*. The requirements are matched to signatures so that no person
fills two; and at least one of the matched signers must not have loaded the phase (the load
runs' operator names them). A valid `rejected` signature blocks approval.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import product

from sqlalchemy import Engine, text

from migrate.db import make_engine
from migrate.errors import ConfigError
from migrate.evidence.record import phase_evidence
from migrate.people import People, allowed_signers, load_people
from migrate.project import Project, SignatureRequirement
from migrate.signing import Signature, Statement, check, signatures

MAX_CANDIDATES = 20  # signatures considered per requirement when matching people to roles


@dataclass(frozen=True)
class SignatureState:
    signature: Signature
    problem: str | None  # None: valid over the current evidence

    def to_dict(self) -> dict:
        return self.signature.to_dict() | {"valid": self.problem is None, "problem": self.problem}


@dataclass(frozen=True)
class Signoff:
    """Where a phase's signatures stand, against its current evidence."""

    phase: str
    evidence_sha256: str | None  # None: nothing to check, not computed
    required: tuple[SignatureRequirement, ...]
    present: tuple[SignatureState, ...]
    matched: tuple[tuple[str, str], ...]  # (requirement label, signer) when met
    loaders: tuple[str, ...]
    problem: str | None

    @property
    def met(self) -> bool:
        return self.problem is None

    @property
    def missing(self) -> tuple[str, ...]:
        valid = [s.signature for s in self.present if s.problem is None]
        return tuple(label(r) for r in self.required if not any(_fills(s, r) for s in valid))

    def superseded(self, state: SignatureState) -> bool:
        """An invalid signature the same person later gave again, valid, in the same role and
        meaning (the evidence changed and they signed anew): history, not a problem."""
        sig = state.signature
        return state.problem is not None and any(
            o.problem is None
            and (o.signature.signer, o.signature.role, o.signature.meaning)
            == (sig.signer, sig.role, sig.meaning)
            for o in self.present
        )

    def to_dict(self) -> dict:
        return {
            "met": self.met,
            "problem": self.problem,
            "evidence_sha256": self.evidence_sha256,
            "required": [label(r) for r in self.required],
            "missing": list(self.missing),
            "matched": [{"requirement": r, "signer": s} for r, s in self.matched],
            "loaders": list(self.loaders),
            "present": [s.to_dict() | {"superseded": self.superseded(s)} for s in self.present],
        }


def label(requirement: SignatureRequirement) -> str:
    return f"{requirement.role} {requirement.meaning}"


def _fills(signature: Signature, requirement: SignatureRequirement) -> bool:
    return signature.role == requirement.role and signature.meaning == requirement.meaning


def loaders(engine: Engine, entities: tuple[str, ...]) -> tuple[str, ...]:
    """Operators of the load runs that changed rows of these entities since the last rollback."""
    with engine.connect() as conn:
        since = conn.execute(text("SELECT MAX(started_at) FROM migrate_rollback_run")).scalar()
        query = "SELECT operator, summary FROM migrate_load_run WHERE summary IS NOT NULL"
        rows = conn.execute(text(query + (" AND started_at > :s" if since else "")), {"s": since}).all()
    out = set()
    for operator, summary in rows:
        counts = json.loads(summary or "{}")
        if any(
            sum(counts[e].get(k, 0) for k in ("inserted", "updated", "deleted"))
            for e in entities
            if e in counts
        ):
            out.add(operator)
    return tuple(sorted(out))


def _states(people: People, sigs: list[Signature], evidence_sha256: str) -> tuple[SignatureState, ...]:
    allowed = allowed_signers(people)
    return tuple(
        SignatureState(
            s,
            check(
                people,
                allowed,
                Statement.parse(s.statement.encode(), f"signature {s.id}"),
                s.signature,
                evidence_sha256,
            ),
        )
        for s in sigs
    )


def _assignment(
    required: tuple[SignatureRequirement, ...], valid: list[Signature], loaders: tuple[str, ...]
) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """Requirements matched to signatures by different people, not all loaders; or why not."""
    options = [[s.signer for s in valid if _fills(s, r)][:MAX_CANDIDATES] for r in required]
    missing = [label(r) for r, o in zip(required, options, strict=True) if not o]
    if missing:
        return (), "missing: " + ", ".join(missing)
    distinct = [c for c in product(*options) if len(set(c)) == len(c)]
    if not distinct:
        return (), "four-eyes: the required roles need different people, and one person signed for several"
    independent = [c for c in distinct if not set(c) <= set(loaders)]
    if not independent:
        return (
            (),
            f"four-eyes: {', '.join(sorted(set(distinct[0])))} loaded the phase and cannot be its only approver",
        )
    return tuple((label(r), s) for r, s in zip(required, independent[0], strict=True)), None


def evaluate(project: Project, name: str) -> Signoff:
    """The phase's signatures checked against its current evidence, with four-eyes."""
    phase = project.plan.phase(name)
    engine = make_engine(project.target_url)
    try:
        sigs = signatures(engine, name)
        loaded_by = loaders(engine, phase.entities)
    finally:
        engine.dispose()
    if not phase.signatures and not sigs:  # nothing to check: the evidence is not even hashed
        return Signoff(name, None, (), (), (), loaded_by, None)
    evidence = phase_evidence(project, name).sha256
    try:
        people = load_people(project)
    except ConfigError as exc:
        problem = exc.message if phase.signatures else None
        return Signoff(name, evidence, phase.signatures, (), (), loaded_by, problem)
    states = _states(people, sigs, evidence)
    valid = [s.signature for s in states if s.problem is None]
    rejected = [s for s in valid if s.meaning == "rejected"]
    if rejected:
        who = ", ".join(f"{s.signer} ({s.role})" for s in rejected)
        return Signoff(name, evidence, phase.signatures, states, (), loaded_by, f"rejected by {who}")
    matched, problem = _assignment(phase.signatures, valid, loaded_by)
    return Signoff(name, evidence, phase.signatures, states, matched, loaded_by, problem)
