"""Where the cutover stands, as one frozen result: what `migrate phase status --json` prints and
what `migrate report` draws, so a script and the lead's page never disagree.

Per phase: its state on the board (not started / running / loaded / gates met / approved),
each gate's measured value against its threshold, its cutover point and who signed; per
entity: rejects by reason with their trend across rehearsals, reconcile status; rollback
readiness with the rows that block it; the go-live ETA; the audit chain's head.

Reading only: nothing here writes to the target or the work store (rollback readiness is
the read-only scan for blocking rows, not the rehearsed replay of `rollback readiness`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text

from migrate import phase as phases
from migrate.db import make_engine
from migrate.errors import MigrateError
from migrate.model import utcnow
from migrate.project import Project
from migrate.urls import mask_url, redact

STATES = ("not started", "running", "loaded", "gates met", "approved")


@dataclass(frozen=True)
class GateValue:
    """A gate's measured value against its threshold (met None: could not be measured)."""

    gate: str
    measured: str
    threshold: str
    met: bool | None
    detail: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PhaseBoard:
    status: phases.PhaseStatus
    state: str  # one of STATES
    gate_values: tuple[GateValue, ...]

    def to_dict(self) -> dict:
        # "signatures" is the phase status's own (migrate.signoff): present, missing, valid
        return self.status.to_dict() | {
            "state": self.state,
            "gate_values": [g.to_dict() for g in self.gate_values],
        }


@dataclass(frozen=True)
class EntityRejects:
    entity: str
    phase: str
    source_rows: int | None  # None: not mapped yet
    rejected: int | None
    by_reason: dict[str, int]
    trend: tuple[dict, ...]  # per rehearsal, oldest first: {rehearsal, rejected, by_reason}
    by_column: tuple[dict, ...] = ()  # {reason, column, legacy (source headers), rows}, most first

    def to_dict(self) -> dict:
        return dict(self.__dict__) | {"trend": list(self.trend), "by_column": list(self.by_column)}


@dataclass(frozen=True)
class BoardStatus:
    project: str
    target: str
    generated_at: datetime
    phases: tuple[PhaseBoard, ...]
    rejects: tuple[EntityRejects, ...]
    reconcile: dict[str, Any]  # {measured, ok, entities: [...], traceability: [...], note}
    readiness: dict[str, Any]
    eta: dict[str, Any]
    audit: dict[str, Any]
    rehearsals: tuple[dict, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "ok": True,
            "project": self.project,
            "target": self.target,
            "generated_at": self.generated_at.isoformat(),
            "phases": [p.to_dict() for p in self.phases],
            "rejects": [r.to_dict() for r in self.rejects],
            "reconcile": self.reconcile,
            "readiness": self.readiness,
            "eta": self.eta,
            "audit": self.audit,
            "rehearsals": list(self.rehearsals),
            "notes": list(self.notes),
        }


def collect(project: Project, *, reconcile: bool = True, reconciled: Any = None) -> BoardStatus:
    """Everything the board shows, read from the target, the work store and the rehearsal records.
    `reconcile=False` skips the comparison of mapped and target rows (the costly part);
    `reconciled`: a whole-target ReconcileReport the caller has just made (the demo)."""
    from migrate.rehearsal.record import list_rehearsals

    notes: list[str] = []
    rehearsals = _guarded(lambda: list_rehearsals(project), (), notes, "rehearsal records")
    statuses = phases.status(project, live=reconcile)  # live gates reconcile each loaded phase
    rejects = _rejects(project, rehearsals)
    # only what has been mapped or loaded: a later phase's sources may not be extracted yet
    started = [
        e.entity
        for st in statuses
        for e in st.entities
        if e.state != "not loaded" or rejects[e.entity].rejected is not None
    ]
    recon = (
        _reconcile(project, notes, started, reconciled)
        if reconcile
        else {"measured": False, "note": "not measured (--no-reconcile)"}
    )
    approved = {s.name for s in statuses if s.point is not None}
    boards = tuple(_board(project, i, s, rejects, recon, approved) for i, s in enumerate(statuses))
    return BoardStatus(
        project=project.spec.name,
        target=mask_url(project.target_url),
        generated_at=utcnow(),
        phases=boards,
        rejects=tuple(rejects.values()),
        reconcile=recon,
        readiness=_guarded(lambda: _readiness(project), {"ready": None}, notes, "rollback readiness"),
        eta=_guarded(lambda: _eta(project), {}, notes, "the ETA"),
        audit=_guarded(lambda: _audit(project), {}, notes, "the audit log"),
        rehearsals=tuple(r.summary() for r in rehearsals),
        notes=tuple(notes),
    )


def _guarded(read, fallback, notes: list[str], what: str):
    """One part that cannot be read leaves a note, not a broken board."""
    try:
        return read()
    except MigrateError as exc:
        notes.append(f"{what} not shown: {redact(exc.problem)[:200]}")
        return fallback


def _rejects(project: Project, rehearsals) -> dict[str, EntityRejects]:
    from migrate.reconcile.accounting import _last_run
    from migrate.store import WorkStore

    store = WorkStore(project.staging_url)
    out = {}
    try:
        columns = _reject_columns(project, store)
        for phase in project.plan.phases:
            for entity in phase.entities:
                run = _last_run(store, entity)
                details = json.loads(run["details"] or "{}") if run else {}
                by_reason = {k: int(v) for k, v in sorted(details.get("rejected_by_reason", {}).items())}
                trend = tuple(_trend_point(r, entity) for r in rehearsals if _outcome(r, entity))
                out[entity] = EntityRejects(
                    entity,
                    phase.name,
                    int(run["source_rows"]) if run else None,
                    int(run["rejected"]) if run else None,
                    by_reason,
                    trend,
                    columns.get(entity, ()),
                )
    finally:
        store.dispose()
    return out


def _reject_columns(project: Project, store) -> dict[str, tuple[dict, ...]]:
    """Rejected rows per entity, reason and column, with the legacy headers the column is read
    from (a project's own names, often Chinese): one GROUP BY over map's quarantine."""
    if not store.has_table("map_rejects"):
        return {}
    sql = (
        'SELECT "entity", "reason", "column", COUNT(*) AS n FROM "map_rejects" '
        'GROUP BY "entity", "reason", "column" ORDER BY n DESC'
    )
    with store.engine.connect() as c:
        rows = c.execute(text(sql)).all()
    headers: dict[str, dict[str, str]] = {}
    out: dict[str, list[dict]] = {}
    for entity, reason, column, n in rows:
        if entity not in headers:
            headers[entity] = _legacy_headers(project, entity)
        legacy = headers[entity].get(column or "", "")
        out.setdefault(entity, []).append(
            {"reason": reason, "column": column, "legacy": legacy, "rows": int(n)}
        )
    return {k: tuple(v) for k, v in out.items()}


def _legacy_headers(project: Project, entity: str) -> dict[str, str]:
    """Target column -> the source header(s) it is mapped from; empty when the mapping cannot be read."""
    from migrate.mapping.spec import mapping_path, read_mapping

    try:
        spec = read_mapping(mapping_path(project.root, entity), project.root)
        return {name: " + ".join(col.sources) for name, col in spec.columns.items() if col.sources}
    except (MigrateError, AttributeError, TypeError):  # the board shows the target name alone
        return {}


def _outcome(rehearsal, entity: str):
    return next((e for e in rehearsal.entities if e.entity == entity), None)


def _trend_point(rehearsal, entity: str) -> dict:
    e = _outcome(rehearsal, entity)
    return {"rehearsal": rehearsal.name, "rejected": e.rejected, "by_reason": e.rejected_by_reason}


def _reconcile(project: Project, notes: list[str], entities: list[str], report=None) -> dict:
    from migrate.reconcile import reconcile
    from migrate.rehearsal.run import variance

    if not entities:
        return {"measured": True, "ok": True, "entities": [], "traceability": []}
    try:
        report = report or reconcile(project, entities)
    except MigrateError as exc:
        notes.append(f"reconcile not measured: {redact(exc.problem)[:200]}")
        return {"measured": False, "note": redact(exc.problem)[:200]}
    entities = []
    for e in report.entities:
        v = variance(e)
        accounting = e.accounting
        entities.append(
            {"entity": e.entity, "ok": e.ok, "differences": v.differences, "by_kind": v.by_kind,
             "expected_rows": e.rows.expected_rows, "target_rows": e.rows.actual_rows,
             "adds_up": accounting.adds_up}
        )  # fmt: skip
    traces = [{"check": t.name, "ok": t.ok, "applicable": t.applicable} for t in report.traceability]
    return {"measured": True, "ok": report.ok, "entities": entities, "traceability": traces}


def _board(project, index: int, status, rejects, recon: dict, approved: set) -> PhaseBoard:
    # a loaded phase's gates as `phase approve` evaluates them (signatures included); the
    # others as far as they can be measured before the phase is loaded
    values = (
        tuple(
            GateValue(g.gate, _shown(g.measured), _shown(g.threshold), g.met, g.detail) for g in status.live
        )
        if status.live
        else _gate_values(project, index, status, rejects, recon, approved)
    )
    loaded = [e.state == "loaded" for e in status.entities]
    if status.point is not None:
        state = "approved"
    elif all(loaded) and all(g.met for g in values):
        state = "gates met"
    elif all(loaded):
        state = "loaded"
    elif any(e.state != "not loaded" for e in status.entities):
        state = "running"
    else:
        state = "not started"
    return PhaseBoard(status, state, values)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _gate_values(
    project, index: int, status, rejects: dict, recon: dict, approved: set
) -> tuple[GateValue, ...]:
    spec = project.plan.phases[index]
    deps = [d for d in spec.depends_on if d in approved]
    loaded = sum(e.state == "loaded" for e in status.entities)
    out = [
        GateValue("earlier phases approved", f"{len(deps)}/{len(spec.depends_on)}", "all",
                  len(deps) == len(spec.depends_on), ", ".join(sorted(set(spec.depends_on) - set(deps)))),
        GateValue("entities loaded", f"{loaded}/{len(status.entities)}", "all", loaded == len(status.entities)),
        _reconcile_gate(spec.entities, recon),
    ]  # fmt: skip
    for name, limit in phases.declared_gates(spec, index):
        out.append(_declared_value(name, limit, [rejects[e] for e in spec.entities]))
    return tuple(out)


def _reconcile_gate(entities: tuple[str, ...], recon: dict) -> GateValue:
    mine = [e for e in recon.get("entities", []) if e["entity"] in entities]
    if not recon.get("measured") or not mine:
        note = recon.get("note", "") if not recon.get("measured") else "nothing mapped or loaded yet"
        return GateValue("reconcile", "not measured", "0 past tolerance", None, note)
    failing = [e["entity"] for e in mine if not e["ok"]]
    differences = sum(e["differences"] for e in mine)
    return GateValue(
        "reconcile",
        f"{differences} differences",
        "0 past tolerance",
        not failing,
        ", ".join(failing),
    )


def _declared_value(name: str, limit: float, rejects: list[EntityRejects]) -> GateValue:
    label = f"{name} {limit:g}"
    mapped = [r for r in rejects if r.rejected is not None]
    if not mapped:
        return GateValue(label, "not mapped", f"{limit:g}", None)
    if name == "max_rejected":
        worst = max(mapped, key=lambda r: r.rejected or 0)
        value = float(worst.rejected or 0)
        shown = f"{value:g} ({worst.entity})"
    else:
        worst = max(mapped, key=lambda r: (r.rejected or 0) / r.source_rows if r.source_rows else 0.0)
        value = (worst.rejected or 0) / worst.source_rows if worst.source_rows else 0.0
        shown = f"{value:.4f} ({worst.entity})"
    return GateValue(label, shown, f"{limit:g}", value <= limit)


def _readiness(project: Project) -> dict:
    """Whether a rollback to the latest point behind the target could start: the rows that block it."""
    from migrate.rollback.points import find_point
    from migrate.rollback.readiness import blocking_references, default_point

    engine = make_engine(project.target_url)
    try:
        point = find_point(engine, default_point(engine))
    finally:
        engine.dispose()
    blockers = blocking_references(project.target_url, point)
    return {
        "point": point.name,
        "ready": not blockers,
        "blockers": [b.to_dict() | {"describe": b.describe()} for b in blockers],
        "note": "foreign rows scanned; migrate rollback readiness also rehearses the replay",
    }


def _eta(project: Project) -> dict:
    from migrate.rehearsal.eta import estimate

    return estimate(project).to_dict()


def _audit(project: Project) -> dict:
    from migrate import audit

    engine = make_engine(project.target_url)
    try:
        result = audit.verify(engine)
    finally:
        engine.dispose()
    return result.to_dict()
