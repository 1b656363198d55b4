"""The ETA of the real cutover: the last rehearsal's step timings scaled by the sources' sizes
now, plus the manual steps' minutes (the runbook in phases/plan.yaml, rollback/*.yaml).

Scaling: each source's extract time by the source's own growth (bytes of a file, rows of a
database table, now against the rehearsal's); a phase's other steps (map, load, reconcile,
gates) by its sources' growth weighted by the rows each had in the rehearsal, and map's and
load's time of each entity by its own mapping's sources (a phase whose big table grew 4x does
not make its 300 work orders cost 4x). Only the part of
a time above the step's fixed cost grows (`_fixed_costs`). A rollback from
a phase's point to the point before it: the rows that phase loaded (scaled) at the
`rows_per_second` of `rollback/<point>.yaml`, plus that plan's manual steps.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from migrate.errors import MigrateError
from migrate.progress import NO_PROGRESS, Progress, Task
from migrate.project import PhaseSpec, Project, RunbookStep
from migrate.rehearsal.record import Rehearsal, list_rehearsals
from migrate.rehearsal.sizes import source_size


@dataclass(frozen=True)
class PhaseEstimate:
    phase: str
    automatic_seconds: float | None  # None: no rehearsal ran this phase
    steps: dict[str, float]  # step -> expected seconds
    scale: float  # the phase's sources now / in the rehearsal
    manual_minutes: float  # the runbook's estimates
    manual_steps: int

    @property
    def total_seconds(self) -> float:
        return (self.automatic_seconds or 0.0) + self.manual_minutes * 60

    def to_dict(self) -> dict:
        return asdict(self) | {"total_seconds": round(self.total_seconds, 2)}


@dataclass(frozen=True)
class RollbackEstimate:
    at: str  # the point you are at (after this phase)
    to: str  # the point before it
    rows: int  # rows to undo, scaled
    automatic_seconds: float
    manual_minutes: float

    @property
    def total_seconds(self) -> float:
        return self.automatic_seconds + self.manual_minutes * 60

    def to_dict(self) -> dict:
        return asdict(self) | {"total_seconds": round(self.total_seconds, 2)}


@dataclass(frozen=True)
class Eta:
    rehearsal: str | None  # what the timings come from
    phases: tuple[PhaseEstimate, ...]
    rollbacks: tuple[RollbackEstimate, ...]
    source_scale: dict[str, float]
    notes: tuple[str, ...] = ()

    @property
    def automatic_seconds(self) -> float:
        return sum(p.automatic_seconds or 0.0 for p in self.phases)

    @property
    def total_seconds(self) -> float:
        return sum(p.total_seconds for p in self.phases)

    def phase(self, name: str) -> PhaseEstimate | None:
        return next((p for p in self.phases if p.phase == name), None)

    def to_dict(self) -> dict:
        return {
            "rehearsal": self.rehearsal,
            "automatic_seconds": round(self.automatic_seconds, 2),
            "manual_minutes": sum(p.manual_minutes for p in self.phases),
            "total_seconds": round(self.total_seconds, 2),
            "phases": [p.to_dict() for p in self.phases],
            "rollbacks": [r.to_dict() for r in self.rollbacks],
            "source_scale": self.source_scale,
            "notes": list(self.notes),
        }


def runbook_minutes(phase: PhaseSpec) -> float:
    return sum(s.minutes for s in phase.runbook if isinstance(s, RunbookStep))


def source_scale(project: Project, rehearsal: Rehearsal) -> tuple[dict[str, float], list[str]]:
    """Each rehearsed source's size now over its size then (1.0 where it cannot be measured)."""
    scale, notes = {}, []
    for s in rehearsal.sources:
        try:
            now, unit = source_size(project, s.source)
        except MigrateError as exc:
            scale[s.source] = 1.0
            notes.append(f"source {s.source} not measured now ({exc.problem[:100]}): taken as unchanged")
            continue
        scale[s.source] = round(now / s.size, 4) if s.size and unit == s.unit else 1.0
    return scale, notes


def _growth(rehearsal: Rehearsal, scale: dict[str, float], sources: list[str]) -> float:
    """The sources' growth, weighted by the rows each had in the rehearsal."""
    rows = {s.source: s.rows for s in rehearsal.sources}
    used = list(dict.fromkeys(n for n in sources if n in rows))
    weight = sum(rows[n] for n in used)
    return sum(rows[n] * scale.get(n, 1.0) for n in used) / weight if weight else 1.0


def _phase_estimate(
    phase: PhaseSpec,
    rehearsal: Rehearsal | None,
    scale: dict[str, float],
    so_far: list[str],
    fed_by: dict[str, list[str]] | None = None,
) -> PhaseEstimate:
    """`so_far`: the sources of this and the earlier phases (the gates hash the whole target,
    so their time grows with everything loaded until then); `fed_by`: each entity's sources."""
    manual = runbook_minutes(phase), sum(isinstance(s, RunbookStep) for s in phase.runbook)
    steps = {s.step: s for s in rehearsal.steps if s.phase == phase.name} if rehearsal else {}
    if not steps:
        return PhaseEstimate(phase.name, None, {}, 1.0, *manual)
    factor = _growth(rehearsal, scale, list(steps["extract"].items) if "extract" in steps else [])
    whole = _growth(rehearsal, scale, so_far)
    expected = {}
    fixed = _fixed_costs(rehearsal)
    for name, step in steps.items():
        if not step.items:  # reconcile by the phase's growth; gates (whole-target hashes) by all so far
            expected[name] = _affine(step.seconds, fixed.get(name, 0.0), whole if name == "gates" else factor)
            continue
        # each source (extract) or entity by its growth; the step's time outside them as it was
        growth = {
            n: scale.get(n, 1.0) if name == "extract" else _fed(rehearsal, scale, fed_by, n, factor)
            for n in step.items
        }
        scaled = sum(_affine(t, fixed.get(name, 0.0), growth[n]) for n, t in step.items.items())
        expected[name] = max(step.seconds - sum(step.items.values()), 0.0) + scaled
    expected = {k: round(v, 3) for k, v in expected.items()}
    return PhaseEstimate(phase.name, round(sum(expected.values()), 3), expected, round(factor, 4), *manual)


def _fed(
    rehearsal: Rehearsal,
    scale: dict[str, float],
    fed_by: dict[str, list[str]] | None,
    entity: str,
    phase_growth: float,
) -> float:
    """An entity's growth: its own sources' (weighted by their rows), else its phase's."""
    sources = [n for n in (fed_by or {}).get(entity, []) if any(s.source == n for s in rehearsal.sources)]
    return _growth(rehearsal, scale, sources) if sources else phase_growth


def _fixed_costs(rehearsal: Rehearsal) -> dict[str, float]:
    """Per step, the part of its time that does not grow with the data: the fastest source's or
    entity's time (a 20-row table's map is start-up cost), or the fastest phase's for steps timed
    whole. Scaling only the rest keeps a 10x bigger estate from a 10x estimate of fixed costs."""
    fixed: dict[str, float] = {}
    for step in rehearsal.steps:
        times = list(step.items.values()) or [step.seconds]
        fixed[step.step] = min([fixed.get(step.step, float("inf")), *times])
    return fixed


def _affine(seconds: float, fixed: float, growth: float) -> float:
    fixed = min(fixed, seconds)
    return fixed + (seconds - fixed) * growth


def _rollbacks(project: Project, rehearsal: Rehearsal | None, phases: tuple[PhaseEstimate, ...]):
    from migrate.rollback.plan import RollbackPlanSpec, read_plan_spec
    from migrate.rollback.points import START

    loaded = {}
    for e in rehearsal.entities if rehearsal else ():
        loaded[e.phase] = loaded.get(e.phase, 0) + e.loaded
    out, previous = [], START
    for estimate in phases:
        spec = read_plan_spec(project, previous) or RollbackPlanSpec()
        rows = round(loaded.get(estimate.phase, 0) * estimate.scale)
        minutes = sum(s.minutes for s in spec.steps)
        out.append(
            RollbackEstimate(estimate.phase, previous, rows, round(rows / spec.rows_per_second, 2), minutes)
        )
        previous = estimate.phase
    return tuple(out)


def estimate(project: Project, rehearsal: Rehearsal | None = None) -> Eta:
    """The expected duration of each phase, of the whole cutover and of each rollback, from
    `rehearsal` (default: the last one recorded; none: manual estimates only)."""
    if rehearsal is None:
        recorded = list_rehearsals(project)
        rehearsal = recorded[-1] if recorded else None
    scale, notes = source_scale(project, rehearsal) if rehearsal else ({}, ["no rehearsal recorded yet"])
    phases, so_far, fed_by = [], [], _entity_sources(project)
    for p in project.plan.phases:
        if rehearsal:
            so_far += [
                n for s in rehearsal.steps if s.phase == p.name and s.step == "extract" for n in s.items
            ]
        phases.append(_phase_estimate(p, rehearsal, scale, so_far, fed_by))
    return Eta(
        rehearsal.name if rehearsal else None,
        tuple(phases),
        _rollbacks(project, rehearsal, tuple(phases)),
        scale,
        tuple(notes),
    )


def _entity_sources(project: Project) -> dict[str, list[str]]:
    """Each entity's sources as its mapping file names them now (an entity whose mapping
    cannot be read scales with its phase)."""
    from migrate.mapping.spec import mapping_path, read_mapping

    found = {}
    for entity in project.entities():
        try:
            found[entity] = list(read_mapping(mapping_path(project.root, entity), project.root).source_names)
        except (MigrateError, OSError):
            continue
    return found


class Paced:
    """A Progress that adds one task showing elapsed time against the expected duration; every
    event of the stage's own tasks moves it (the engine has no clock thread of its own)."""

    def __init__(self, inner: Progress, label: str, expected_seconds: float) -> None:
        self._inner, self._start, self._shown = inner, time.perf_counter(), 0
        self.expected = max(int(round(expected_seconds)), 1)
        self._label = label
        self._clock = inner.task(f"{label}: ~{self.expected} s expected", total=self.expected)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def tick(self) -> None:
        now = int(self.elapsed)
        if now > self.expected:
            self._clock.update(total=now, description=f"{self._label}: over the ~{self.expected} s expected")
        if now > self._shown:
            self._clock.advance(now - self._shown)
            self._shown = now

    def task(self, description: str, total: int | None = None) -> Task:
        return _PacedTask(self._inner.task(description, total), self)


class _PacedTask:
    def __init__(self, inner: Task, paced: Paced) -> None:
        self._inner, self._paced = inner, paced

    def advance(self, amount: int = 1) -> None:
        self._inner.advance(amount)
        self._paced.tick()

    def update(self, *, total: int | None = None, description: str | None = None) -> None:
        self._inner.update(total=total, description=description)
        self._paced.tick()


def paced(progress: Progress, project: Project, phase: str) -> tuple[Progress, PhaseEstimate | None]:
    """`progress` with an expected-duration task for `phase` when a rehearsal gives one."""
    try:
        expected = estimate(project).phase(phase)
    except MigrateError:
        return progress, None  # an unreadable rehearsal record never stops a real run
    if expected is None or expected.automatic_seconds is None or progress is NO_PROGRESS:
        return progress, expected
    return Paced(progress, f"phase {phase}", expected.automatic_seconds), expected
