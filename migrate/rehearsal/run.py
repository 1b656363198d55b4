"""`rehearsal run`: the plan's phases run end to end against a scratch target, every step timed.

A rehearsal works on a project whose target and work store are swapped for scratch ones
(`ScratchProject`): the stages are the very functions `phase run` and `phase approve` use,
so what is measured is what the real cutover will do. The project's own target and work
store are never opened for writing; sources are only read, as always.

SQLite: the scratch target is a fresh file in `.migrate/rehearsals/NAME/`. PostgreSQL: a
database the user names, refused when it is the project's own target, or when it already
holds tables (unless `reset`, which takes its schema back to empty first).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import URL

from migrate import db
from migrate.db import make_engine
from migrate.errors import ConfigError
from migrate.model import utcnow
from migrate.progress import NO_PROGRESS, Progress
from migrate.project import PhaseSpec, PlanSpec, Project
from migrate.rehearsal.record import (
    EntityOutcome,
    Rehearsal,
    SourceFacts,
    StepTiming,
    Variance,
    check_name,
    project_files,
    rehearsals_dir,
    save,
)
from migrate.rehearsal.sizes import source_size
from migrate.urls import mask_url, parse_url


class ScratchProject(Project):
    """The same project files and sources, with another target and work store."""

    def __init__(self, project: Project, target: URL, staging: URL) -> None:
        super().__init__(project.root)
        self._scratch_target, self._scratch_staging = target, staging

    @property
    def target_url(self) -> URL:
        return self._scratch_target

    @property
    def staging_url(self) -> URL:
        return self._scratch_staging


def same_database(a: URL, b: URL) -> bool:
    """Whether two URLs name one database (drivers, users and passwords aside)."""
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        return bool(a.database) and Path(a.database).resolve() == Path(b.database or "").resolve()
    defaults = {"postgresql": 5432, "mysql": 3306}.get(a.get_backend_name())
    where = [(u.host or "localhost", u.port or defaults, u.database) for u in (a, b)]
    return where[0] == where[1]


def scratch_folder(project: Project, name: str) -> Path:
    return rehearsals_dir(project) / check_name(name)


def scratch_project(
    project: Project, name: str, target: str | None, *, reset: bool = False
) -> ScratchProject:
    """The project on a scratch target (fresh SQLite file by default) and a fresh scratch work store."""
    folder = scratch_folder(project, name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    staging = parse_url(f"sqlite:///{folder / 'staging.db'}")
    if target is None:
        return ScratchProject(project, parse_url(f"sqlite:///{folder / 'target.db'}"), staging)
    url = parse_url(target, base_dir=project.root, where="--target")
    if same_database(url, project.target_url):
        raise ConfigError(
            f"--target {mask_url(url)} is the project's own target: a rehearsal never writes to it.",
            hint="Give a scratch database, e.g. a second PostgreSQL database made for rehearsals.",
        )
    _require_empty(url, reset)
    return ScratchProject(project, url, staging)


def _require_empty(url: URL, reset: bool) -> None:
    engine = make_engine(url)
    try:
        with db.database_faults(url, "the scratch target"):
            tables = inspect(engine).get_table_names()
        if tables:
            if not reset:
                raise ConfigError(
                    f"the scratch target {mask_url(url)} already holds tables; a rehearsal starts from empty.",
                    hint="Give an empty database, or add --reset to remove the migrate schema from this one.",
                )
            db.downgrade(engine, "base")
    finally:
        engine.dispose()


@dataclass
class _Tally:
    """What the phases measured so far (turned into a frozen Rehearsal at the end)."""

    sources: dict[str, SourceFacts] = field(default_factory=dict)
    steps: list[StepTiming] = field(default_factory=list)
    entities: list[EntityOutcome] = field(default_factory=list)
    variances: list[Variance] = field(default_factory=list)
    traceability: dict[str, bool] = field(default_factory=dict)
    gates: dict[str, list[dict]] = field(default_factory=dict)
    approved: list[str] = field(default_factory=list)


def with_dependencies(plan: PlanSpec, names: Iterable[str]) -> tuple[PhaseSpec, ...]:
    """The named phases and every phase they depend on (a scratch target starts empty), in plan order."""
    wanted = {plan.phase(n).name for n in names} or {p.name for p in plan.phases}
    for phase in reversed(plan.phases):
        if phase.name in wanted:
            wanted.update(phase.depends_on)
    return tuple(p for p in plan.phases if p.name in wanted)


def run_rehearsal(
    project: Project,
    name: str,
    *,
    phases: Iterable[str] = (),
    target: str | None = None,
    reset: bool = False,
    keep: bool = False,
    operator: str = "unknown",
    progress: Progress = NO_PROGRESS,
) -> tuple[Rehearsal, Path]:
    """Run the chosen phases (default: the whole plan) on a scratch target; record and save the
    rehearsal. The scratch SQLite files are removed afterwards unless `keep`."""
    chosen = with_dependencies(project.plan, phases)
    scratch = scratch_project(project, name, target, reset=reset)
    files = project_files(project.root)  # before the run: what this rehearsal ran on
    started, clock, tally = utcnow(), time.perf_counter(), _Tally()
    try:
        engine = make_engine(scratch.target_url)
        try:
            db.upgrade(engine)
        finally:
            engine.dispose()
        for phase in chosen:
            _run_phase(scratch, phase, tally, operator, f"migrate rehearsal run {name}", progress)
    finally:
        if not keep:
            shutil.rmtree(scratch_folder(project, name), ignore_errors=True)
    seconds = time.perf_counter() - clock
    rehearsal = _frozen(project, name, started, seconds, scratch, chosen, files, operator, tally)
    return rehearsal, save(project, rehearsal)


def _frozen(project, name, started, seconds, scratch, chosen, files, operator, tally: _Tally) -> Rehearsal:
    from migrate.load import project_fingerprint

    return Rehearsal(
        name=name,
        started_at=started.isoformat(),
        seconds=round(seconds, 3),
        target=mask_url(scratch.target_url),
        operator=operator,
        phases=tuple(p.name for p in chosen),
        project_fingerprint=project_fingerprint(project.root),
        files=files,
        sources=tuple(tally.sources.values()),
        steps=tuple(tally.steps),
        entities=tuple(tally.entities),
        variances=tuple(tally.variances),
        traceability=tally.traceability,
        gates=tally.gates,
        approved=tuple(tally.approved),
    )


def _timed(call):
    start = time.perf_counter()
    result = call()
    return result, round(time.perf_counter() - start, 4)


def _run_phase(
    scratch: ScratchProject, phase: PhaseSpec, tally: _Tally, operator: str, command: str, progress: Progress
) -> None:
    """extract, map (entity by entity, to time each), load, reconcile, gates: as a cutover runs them."""
    from migrate.extract import extract
    from migrate.mapping import map_entities

    extracted, seconds = _timed(lambda: extract(scratch, phase=phase.name, progress=progress))
    tally.steps.append(
        StepTiming(phase.name, "extract", seconds, {s.source: s.seconds for s in extracted.sources})
    )
    for s in extracted.sources:
        if s.status == "extracted":
            size, unit = source_size(scratch, s.source, rows=s.rows)
            where = _where(scratch.source(s.source))
            tally.sources.setdefault(
                s.source, SourceFacts(s.source, s.fingerprint, s.rows, size, unit, where)
            )
    mapped, times = {}, {}
    for entity in phase.entities:
        result, times[entity] = _timed(lambda e=entity: map_entities(scratch, (e,), progress=progress))
        mapped[entity] = result.entities[0]
    tally.steps.append(StepTiming(phase.name, "map", round(sum(times.values()), 4), times))
    loaded = _load(scratch, phase, tally, operator, command, progress)
    for entity in phase.entities:
        m = mapped[entity]
        tally.entities.append(
            EntityOutcome(
                entity, phase.name, m.source_rows, m.mapped, m.rejected, m.filtered,
                dict(sorted(m.rejected_by_reason.items())), loaded.get(entity, 0),
            )
        )  # fmt: skip
    _reconcile_and_gates(scratch, phase, tally, operator, command, progress)


def _where(spec) -> str:
    return spec.path or (f"table {spec.table}" if spec.table else "query")


def _load(scratch, phase, tally: _Tally, operator: str, command: str, progress: Progress) -> dict[str, int]:
    from migrate.load import load, project_fingerprint
    from migrate.store import WorkStore

    store = WorkStore(scratch.staging_url)
    try:
        result, seconds = _timed(
            lambda: load(
                scratch.target_url,
                store,
                phase.entities,
                chunk_size=scratch.spec.defaults.chunk_size,
                jobs=scratch.spec.defaults.jobs_for(scratch.target_url),
                operator=operator,
                command=command,
                project_fingerprint=project_fingerprint(scratch.root),
                progress=progress,
            )
        )
    finally:
        store.dispose()
    tally.steps.append(
        StepTiming(phase.name, "load", seconds, {e.entity: e.seconds for e in result.entities})
    )
    return {e.entity: e.inserted + e.updated + e.unchanged for e in result.entities}


def _reconcile_and_gates(scratch, phase, tally: _Tally, operator: str, command: str, progress) -> None:
    from migrate.phase import check_gates
    from migrate.reconcile import reconcile
    from migrate.rollback.points import record_point

    report, seconds = _timed(lambda: reconcile(scratch, phase=phase.name, progress=progress))
    tally.steps.append(StepTiming(phase.name, "reconcile", seconds, {}))
    tally.variances.extend(variance(e) for e in report.entities)
    tally.traceability.update({t.name: t.ok for t in report.traceability})
    start = time.perf_counter()
    gates, _ = check_gates(scratch, phase.name, reconciled=report, progress=progress)
    tally.gates[phase.name] = [g.to_dict() for g in gates]
    if all(g.met for g in gates):
        # the point is recorded in the scratch target, so later phases' "earlier phases approved" holds
        record_point(scratch.target_url, phase.name, phase=phase.name, operator=operator, command=command)
        tally.approved.append(phase.name)
    tally.steps.append(StepTiming(phase.name, "gates", round(time.perf_counter() - start, 4), {}))


def variance(entity_report) -> Variance:
    """An entity's reconcile report reduced to counts of each kind of difference past tolerance."""
    rows = entity_report.rows
    kinds = {
        "missing": rows.missing,
        "only_in_target": rows.only_in_target,
        "unequal_rows": rows.unequal_rows,
        "duplicate_keys": rows.duplicate_keys_expected + rows.duplicate_keys_actual,
        "control_totals": sum(not t.ok for t in entity_report.totals),
        "accounting": int(not entity_report.accounting.adds_up),
    }
    kinds = {k: int(v) for k, v in kinds.items() if v}
    return Variance(entity_report.entity, entity_report.ok, sum(kinds.values()), kinds)
