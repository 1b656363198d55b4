"""Phases (docs/project.md#gates, docs/cli.md): run a phase's stages, see where each phase stands, approve it.

Approving a phase checks its gates and records the cutover point named after it, the
point `migrate rollback run --to PHASE` returns to. Every phase has three built-in gates:

- `earlier phases approved`: each phase in `depends_on` has its cutover point;
- `entities loaded`: each entity of the phase was loaded completely (its load checkpoint
  says done, or, for an entity with no rows, a completed load run since the last rollback);
- `reconcile`: `migrate reconcile --phase PHASE` passes (within the declared tolerances).

`gates:` in phases/plan.yaml adds more, one key each: `max_rejected: N` (rows map rejected,
per entity) and `max_reject_rate: 0.01` (rejected / source rows, per entity).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from migrate.db import make_engine
from migrate.errors import CheckFailed, ConfigError
from migrate.progress import NO_PROGRESS, Progress
from migrate.project import PLAN_FILE, PhaseSpec, Project
from migrate.rollback.points import CutoverPoint, list_points, record_point, refuse_while_written
from migrate.store import WorkStore

DECLARED_GATES = ("max_rejected", "max_reject_rate")


@dataclass(frozen=True)
class EntityState:
    entity: str
    state: str  # loaded / interrupted / not loaded
    rows: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class GateResult:
    gate: str
    met: bool | None  # None: not checked (an earlier gate failed)
    detail: str = ""
    measured: Any = None  # what the gate measured (a count, a rate, signatures present)
    threshold: Any = None  # what it must be to be met

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PhaseStatus:
    name: str
    description: str
    entities: tuple[EntityState, ...]
    gates: tuple[str, ...]
    point: CutoverPoint | None
    live: tuple[GateResult, ...] = ()  # every gate evaluated now (phases with entities loaded)
    signoff: Any = None  # migrate.signoff.Signoff: signatures present and missing

    @property
    def loaded(self) -> bool:
        return all(e.state == "loaded" for e in self.entities)

    def to_dict(self) -> dict:
        return {
            "phase": self.name,
            "description": self.description,
            "loaded": self.loaded,
            "approved": self.point is not None,
            "entities": [e.to_dict() for e in self.entities],
            "gates": list(self.gates),
            "point": self.point.to_dict() if self.point else None,
            "gate_results": [g.to_dict() for g in self.live],
            "signatures": self.signoff.to_dict() if self.signoff else None,
        }


def declared_gates(phase: PhaseSpec, index: int) -> list[tuple[str, float]]:
    """The phase's `gates:` entries, checked: one known key each, a non-negative number."""
    out = []
    for j, gate in enumerate(phase.gates):
        key = f"phases.{index}.gates.{j}"
        if len(gate) != 1 or next(iter(gate)) not in DECLARED_GATES:
            raise ConfigError(
                f"a gate is one of {', '.join(DECLARED_GATES)} with a number, not {gate!r}.",
                file=PLAN_FILE,
                key=key,
            )
        name, value = next(iter(gate.items()))
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(
                f"gate {name} needs a number of at least 0, not {value!r}.", file=PLAN_FILE, key=key
            )
        out.append((name, float(value)))
    return out


def _gate_names(phase: PhaseSpec, index: int) -> tuple[str, ...]:
    declared = [f"{name} {value:g}" for name, value in declared_gates(phase, index)]
    signed = ("signatures",) if phase.signatures else ()
    return ("earlier phases approved", "entities loaded", "reconcile", *declared, *signed)


def _live_points(engine: Engine) -> dict[str, CutoverPoint]:
    return {p.name: p for p in list_points(engine) if p.superseded_by is None}


def _completed_since_rollback(conn) -> set[str]:
    """Entities named by completed load runs that started after the last rollback."""
    since = conn.execute(text("SELECT MAX(started_at) FROM migrate_rollback_run")).scalar()
    query = "SELECT summary FROM migrate_load_run WHERE status = 'completed'"
    rows = conn.execute(text(query + (" AND started_at > :s" if since else "")), {"s": since}).all()
    return {name for (summary,) in rows for name in json.loads(summary or "{}")}


def entity_states(engine: Engine, entities: tuple[str, ...]) -> tuple[EntityState, ...]:
    with engine.connect() as conn:
        checkpoints = {
            r.entity: r
            for r in conn.execute(
                text(
                    "SELECT entity, status, inserted + updated + unchanged AS rows FROM migrate_load_checkpoint"
                )
            )
        }
        completed = _completed_since_rollback(conn)
        # a pass on several connections writes its checkpoint row only when it ends: until then
        # its committed chunks' records are what says it is under way (or was interrupted)
        open_passes = dict(
            conn.execute(
                text(
                    "SELECT entity, SUM(inserted + updated + unchanged) FROM migrate_load_chunk GROUP BY entity"
                )
            ).all()
        )
    out = []
    for name in entities:
        cp = checkpoints.get(name)
        if name in open_passes:
            out.append(EntityState(name, "interrupted", int(open_passes[name])))
        elif cp is not None:
            out.append(EntityState(name, "loaded" if cp.status == "done" else "interrupted", cp.rows))
        else:
            out.append(EntityState(name, "loaded" if name in completed else "not loaded"))
    return tuple(out)


def status(project: Project, *, live: bool = True, signatures: bool = True) -> tuple[PhaseStatus, ...]:
    """Every phase: its entities' load state, its gates, its cutover point (approved) if any;
    `live`: every gate of each loaded phase evaluated now (a reconcile per phase);
    `signatures`: each loaded phase's signatures checked against its current evidence."""
    from migrate import signoff

    engine = make_engine(project.target_url)
    try:
        points = _live_points(engine)
        out = []
        for i, p in enumerate(project.plan.phases):
            entities = entity_states(engine, p.entities)
            loaded = all(e.state == "loaded" for e in entities)
            gates = check_gates(project, p.name, every=True)[0] if live and loaded else ()
            signed = signoff.evaluate(project, p.name) if signatures and loaded else None
            out.append(
                PhaseStatus(
                    p.name, p.description, entities, _gate_names(p, i), points.get(p.name), gates, signed
                )
            )
        return tuple(out)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class PhaseRunResult:
    phase: str
    extracted: Any
    mapped: Any
    loaded: Any
    unapproved: tuple[str, ...] = ()  # phases it depends on that had no cutover point at the run

    def to_dict(self) -> dict:
        return {
            "ok": True,
            "phase": self.phase,
            "extract": self.extracted.to_dict(),
            "map": self.mapped.to_dict(),
            "load": self.loaded.to_dict(),
            "unapproved_dependencies": list(self.unapproved),
        }


def run(
    project: Project,
    name: str,
    *,
    operator: str = "unknown",
    command: str = "",
    progress: Progress = NO_PROGRESS,
) -> PhaseRunResult:
    """Extract, map and load one phase's entities with the existing stage functions."""
    from migrate import audit
    from migrate.extract import extract
    from migrate.load import load, project_fingerprint
    from migrate.mapping import map_entities

    phase = project.plan.phase(name)
    unapproved = _dependencies_unapproved(project, phase)
    extracted = extract(project, phase=name, progress=progress)
    mapped = map_entities(project, phase=name, progress=progress)
    audit.record_if_ready(project.target_url, operator, "phase run", {"phase": name, "rows": extracted.rows})
    store = WorkStore(project.staging_url)
    try:
        loaded = load(
            project.target_url,
            store,
            phase.entities,
            chunk_size=project.spec.defaults.chunk_size,
            jobs=project.spec.defaults.jobs_for(project.target_url),
            operator=operator,
            command=command or f"migrate phase run {name}",
            project_fingerprint=project_fingerprint(project.root),
            progress=progress,
        )
    finally:
        store.dispose()
    return PhaseRunResult(name, extracted, mapped, loaded, unapproved)


def _dependencies_unapproved(project: Project, phase: PhaseSpec) -> tuple[str, ...]:
    """The phases `phase` depends on without a cutover point: running it now is allowed (approve
    refuses later), but its references to their rows are rejected, and the user should know."""
    if not phase.depends_on:
        return ()
    engine = make_engine(project.target_url)
    try:
        live = _live_points(engine)
    finally:
        engine.dispose()
    return tuple(d for d in phase.depends_on if d not in live)


@dataclass(frozen=True)
class ApproveResult:
    phase: str
    gates: tuple[GateResult, ...]
    point: CutoverPoint | None = None
    reconcile: dict | None = field(default=None)

    @property
    def approved(self) -> bool:
        return self.point is not None

    def to_dict(self) -> dict:
        return {
            "ok": self.approved,
            "phase": self.phase,
            "approved": self.approved,
            "gates": [g.to_dict() for g in self.gates],
            "point": self.point.to_dict() if self.point else None,
        }


def _rejects(project: Project, entities: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """(rejected, source rows) per entity from map's latest run record (missing: not mapped)."""
    store = WorkStore(project.staging_url)
    out = {}
    try:
        if not store.has_table("map_runs"):
            return out
        with store.engine.connect() as c:
            for name in entities:
                row = c.execute(
                    text(
                        'SELECT "rejected", "source_rows" FROM "map_runs" WHERE "entity" = :e '
                        'ORDER BY "run_at" DESC LIMIT 1'
                    ),
                    {"e": name},
                ).first()
                if row is not None:
                    out[name] = (int(row[0]), int(row[1]))
    finally:
        store.dispose()
    return out


def _declared_check(name: str, limit: float, rejects: dict[str, tuple[int, int]]) -> GateResult:
    over, worst = [], 0.0
    for entity, (rejected, source) in rejects.items():
        value = rejected if name == "max_rejected" else (rejected / source if source else 0.0)
        worst = max(worst, value)
        if value > limit:
            over.append(f"{entity} {value:g}")
    label = f"{name} {limit:g}"
    return GateResult(label, not over, "over the limit: " + ", ".join(over) if over else "", worst, limit)


def _signature_check(project: Project, name: str) -> GateResult:
    from migrate import signoff

    result = signoff.evaluate(project, name)
    present = [f"{m[0]} by {m[1]}" for m in result.matched]
    return GateResult(
        "signatures",
        result.met,
        result.problem or "; ".join(present),
        present,
        list(signoff.label(r) for r in result.required),
    )


def check_gates(
    project: Project,
    name: str,
    *,
    progress: Progress = NO_PROGRESS,
    every: bool = False,
    reconciled: Any = None,
) -> tuple[tuple[GateResult, ...], dict | None]:
    """Each gate of the phase, in order; later gates are not checked once one fails (`every`:
    all are, as `phase status` shows them; `reconciled`: a ReconcileReport of the phase already made)."""
    from migrate.reconcile import reconcile

    index, phase = next(
        (i, p) for i, p in enumerate(project.plan.phases) if p.name == project.plan.phase(name).name
    )
    declared = declared_gates(phase, index)
    engine = make_engine(project.target_url)
    try:
        points = _live_points(engine)
        states = entity_states(engine, phase.entities)
    finally:
        engine.dispose()
    missing = [d for d in phase.depends_on if d not in points]
    not_loaded = [f"{e.entity} ({e.state})" for e in states if e.state != "loaded"]
    checks: list[tuple[str, Callable[[], GateResult]]] = [
        (
            "earlier phases approved",
            lambda: GateResult(
                "earlier phases approved",
                not missing,
                _unapproved(missing),
                len(phase.depends_on) - len(missing),
                len(phase.depends_on),
            ),
        ),
        (
            "entities loaded",
            lambda: GateResult(
                "entities loaded",
                not not_loaded,
                ", ".join(not_loaded),
                len(states) - len(not_loaded),
                len(states),
            ),
        ),
    ]
    report: dict = {}

    def reconcile_gate() -> GateResult:
        result = reconciled or reconcile(project, phase=name, progress=progress)
        report.update(result.to_dict())
        failing = result.to_dict()["summary"]
        bad = failing["entities_failing"] + failing["traceability_failing"]
        return GateResult("reconcile", result.ok, "failing: " + ", ".join(bad) if bad else "", len(bad), 0)

    checks.append(("reconcile", reconcile_gate))
    rejects = _rejects(project, phase.entities) if declared else {}
    for gate, limit in declared:
        checks.append((gate, lambda g=gate, v=limit: _declared_check(g, v, rejects)))
    if phase.signatures:
        checks.append(("signatures", lambda: _signature_check(project, name)))
    results, failed = [], False
    for label, check in checks:
        result = GateResult(label, None, "not checked: an earlier gate is not met") if failed else check()
        failed = (failed or result.met is False) and not every
        results.append(result)
    return tuple(results), report or None


def _unapproved(missing: list[str]) -> str:
    return "not approved yet: " + ", ".join(missing) if missing else ""


def refuse_later_loads(engine: Engine, project: Project, name: str) -> None:
    """Refuse to approve a phase whose point would contain later phases' rows: entities of
    later phases loaded after the points of the phase's predecessors."""
    phases = project.plan.phases
    index = next(i for i, p in enumerate(phases) if p.name == project.plan.phase(name).name)
    earlier = {e for p in phases[: index + 1] for e in p.entities}
    later = {e: p.name for p in phases[index + 1 :] for e in p.entities if e not in earlier}
    points = _live_points(engine)
    since = max((points[d].ledger_seq for d in phases[index].depends_on if d in points), default=0)
    if not later:
        return
    marks = ", ".join(f":e{i}" for i in range(len(later)))
    query = f"SELECT DISTINCT entity FROM migrate_load_ledger WHERE seq > :since AND entity IN ({marks})"
    with engine.connect() as conn:
        params = {"since": since, **{f"e{i}": e for i, e in enumerate(later)}}
        loaded = sorted(r[0] for r in conn.execute(text(query), params))
    if loaded:
        named = ", ".join(f"{e} (phase {later[e]})" for e in loaded)
        back = next((d for d in reversed(phases[index].depends_on) if d in points), "start")
        raise CheckFailed(
            f"phase {name} cannot be approved: entities of later phases were loaded after its "
            f"earlier phases' points, so its cutover point would contain them: {named}.",
            hint=f"Roll back to {back} (`migrate rollback run --to {back}`), run and approve {name}, "
            "then run the later phases again.",
        )


def approve(
    project: Project,
    name: str,
    *,
    operator: str = "unknown",
    command: str = "",
    progress: Progress = NO_PROGRESS,
) -> ApproveResult:
    """Check the phase's gates; all met: record its cutover point. Not met: CheckFailed naming the gate."""
    refuse_while_written(project.target_url, operator, command or f"migrate phase approve {name}")
    engine = make_engine(project.target_url)
    try:
        if name in _live_points(engine):
            raise ConfigError(
                f"phase {name} is already approved: its cutover point exists.",
                hint="To redo it, roll back to the point before it, run the phase again, then approve it.",
            )
        refuse_later_loads(engine, project, name)
    finally:
        engine.dispose()
    gates, report = check_gates(project, name, progress=progress)
    unmet = [g for g in gates if g.met is False]
    if unmet:
        first = unmet[0]
        raise CheckFailed(
            f"gate not met for phase {name}: {first.gate}"
            + (f" ({first.detail})" if first.detail else "")
            + ".",
            hint="`migrate phase status` shows where each phase stands.",
        )
    point = record_point(
        project.target_url,
        name,
        phase=name,
        operator=operator,
        command=command or f"migrate phase approve {name}",
        audit_command="phase approve",
    )
    return ApproveResult(name, gates, point, report)
