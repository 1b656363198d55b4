"""A rehearsal's record: what one dress run of the plan measured, kept as JSON beside the project.

Stored in `.migrate/rehearsals/NAME.json`, outside the scratch target and work store the
rehearsal ran on, so it survives them (they are removed after the run unless kept). The
record holds facts only: per step and entity the wall time, rows in / mapped / rejected by
reason / loaded, reconcile variances, gate results, and the fingerprints of everything the
result depended on (sources, project files) so two rehearsals can say what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from migrate.errors import ConfigError
from migrate.project import WORK_DIR, Project

REHEARSALS_DIR = f"{WORK_DIR}/rehearsals"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
FORMAT = 1
# The project files a rehearsal's outcome depends on, fingerprinted one by one.
PROJECT_FILES = ("project.yaml", "phases", "mappings", "reconcile", "rollback")
STEPS = ("extract", "map", "load", "reconcile", "gates")


@dataclass(frozen=True)
class StepTiming:
    """One step of one phase: its wall time, and the time of each source or entity in it."""

    phase: str
    step: str  # one of STEPS
    seconds: float
    items: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EntityOutcome:
    entity: str
    phase: str
    source_rows: int
    mapped: int
    rejected: int
    filtered: int
    rejected_by_reason: dict[str, int]
    loaded: int  # rows in the target after the load (inserted + updated + unchanged)


@dataclass(frozen=True)
class SourceFacts:
    source: str
    fingerprint: str
    rows: int
    size: int  # bytes of a file source, rows of a database source (what the ETA scales by)
    unit: str  # "bytes" or "rows"
    where: str = ""  # the file, or the database table or "query", for the reader of a comparison


@dataclass(frozen=True)
class Variance:
    """One entity's reconcile outcome: differences past tolerance, and of which kind."""

    entity: str
    ok: bool
    differences: int
    by_kind: dict[str, int]


@dataclass(frozen=True)
class Rehearsal:
    name: str
    started_at: str  # ISO 8601, UTC
    seconds: float
    target: str  # masked
    operator: str
    phases: tuple[str, ...]
    project_fingerprint: str
    files: dict[str, str]  # project file (relative path) -> SHA-256
    sources: tuple[SourceFacts, ...]
    steps: tuple[StepTiming, ...]
    entities: tuple[EntityOutcome, ...]
    variances: tuple[Variance, ...]
    traceability: dict[str, bool]
    gates: dict[str, list[dict]]  # phase -> [{gate, met, detail}]
    approved: tuple[str, ...]  # phases whose gates were all met (their point recorded in the scratch target)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    def summary(self) -> dict[str, Any]:
        """One line of a list of rehearsals: when, how long, rejects, variances, gates met."""
        return {
            "name": self.name,
            "started_at": self.started_at,
            "seconds": self.seconds,
            "phases": list(self.phases),
            "rejected": sum(e.rejected for e in self.entities),
            "variances": sum(not v.ok for v in self.variances),
            "approved": list(self.approved),
            "steps": [{"phase": s.phase, "step": s.step, "seconds": s.seconds} for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rehearsal:
        data = {k: v for k, v in data.items() if k != "format"}
        return cls(
            **data
            | {
                "phases": tuple(data["phases"]),
                "sources": tuple(SourceFacts(**s) for s in data["sources"]),
                "steps": tuple(StepTiming(**s) for s in data["steps"]),
                "entities": tuple(EntityOutcome(**e) for e in data["entities"]),
                "variances": tuple(Variance(**v) for v in data["variances"]),
                "approved": tuple(data["approved"]),
            }
        )


def check_name(name: str) -> str:
    """A rehearsal name becomes a file name: checked, never a path."""
    if not NAME.match(name):
        raise ConfigError(
            f"{name[:80]!r} is not a usable rehearsal name: letters, digits, '_', '-', '.', up to 63 characters.",
            hint="For example `migrate rehearsal run mock-1`.",
        )
    return name


def rehearsals_dir(project: Project) -> Path:
    return project.root / REHEARSALS_DIR


def record_path(project: Project, name: str) -> Path:
    return rehearsals_dir(project) / f"{check_name(name)}.json"


def save(project: Project, rehearsal: Rehearsal) -> Path:
    """Write the record atomically (a reader never sees half a file)."""
    path = record_path(project, rehearsal.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".json.tmp")
    scratch.write_text(json.dumps(rehearsal.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(scratch, path)
    return path


def read(project: Project, name: str) -> Rehearsal:
    path = record_path(project, name)
    if not path.exists():
        known = ", ".join(r.name for r in list_rehearsals(project)) or "none yet"
        raise ConfigError(
            f"no rehearsal {name!r}; recorded: {known}.", hint="Run `migrate rehearsal run NAME`."
        )
    return _parse(path, project)


def _parse(path: Path, project: Project) -> Rehearsal:
    shown = str(path.relative_to(project.root))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {str(data.get('format'))[:20]}, this version reads {FORMAT}")
        return Rehearsal.from_dict(data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(
            f"{shown} is not a rehearsal record this version can read ({str(exc)[:120]}).",
            hint="Run the rehearsal again, or remove the file.",
        ) from None


def list_rehearsals(project: Project) -> tuple[Rehearsal, ...]:
    """Every recorded rehearsal, oldest first (by when it started)."""
    folder = rehearsals_dir(project)
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return tuple(sorted((_parse(p, project) for p in paths), key=lambda r: r.started_at))


def project_files(root: Path) -> dict[str, str]:
    """SHA-256 of every file the outcome depends on, by path relative to the project."""
    out = {}
    for name in PROJECT_FILES:
        top = root / name
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in paths:
            out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
