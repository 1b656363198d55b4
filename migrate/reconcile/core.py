"""One reconcile run: per entity, row accounting, control totals and the row-level diff;
then the traceability checks; one report."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from migrate.arrowread import read_batches
from migrate.db import make_engine
from migrate.errors import MigrateError
from migrate.model import utcnow
from migrate.progress import NO_PROGRESS, Progress
from migrate.project import Project
from migrate.reconcile import pushdown
from migrate.reconcile.accounting import AccountingResult, account
from migrate.reconcile.columnar import (
    DEFAULT_BUCKET,
    compare_tables_arrow,
    hashed_pairs,
    normalise_batches,
)
from migrate.reconcile.compare import ColumnRule, CompareResult
from migrate.reconcile.sides import (
    actual_sql,
    canonical_sql,
    column_kind,
    expected_sql,
    from_clause,
    raw_expr,
)
from migrate.reconcile.spec import DEFAULT_CHUNK, ReconcileSpec, load_spec
from migrate.reconcile.totals import TotalResult, control_total
from migrate.reconcile.trace import CHECKS, TraceResult, trace, trace_scope
from migrate.store import WorkStore, mapped_table
from migrate.urls import mask_url


@dataclass(frozen=True)
class EntityReport:
    entity: str
    rows: CompareResult
    accounting: AccountingResult
    totals: tuple[TotalResult, ...]
    column_types: dict[str, str]

    @property
    def ok(self) -> bool:
        return self.rows.ok and self.accounting.adds_up and all(t.ok for t in self.totals)

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "ok": self.ok,
            "column_types": self.column_types,
            "accounting": self.accounting.to_dict(),
            "control_totals": [t.to_dict() for t in self.totals],
            "rows": self.rows.to_dict(),
        }


@dataclass(frozen=True)
class ReconcileReport:
    entities: tuple[EntityReport, ...]
    traceability: tuple[TraceResult, ...]
    target: str
    generated_at: datetime
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.entities) and all(t.ok for t in self.traceability)

    def to_dict(self) -> dict[str, Any]:
        """Typed, deterministic content; run facts (target, time) kept apart under `run`."""
        return {
            "ok": self.ok,
            "summary": {
                "entities": len(self.entities),
                "entities_failing": [e.entity for e in self.entities if not e.ok],
                "traceability_failing": [t.name for t in self.traceability if not t.ok],
            },
            "entities": [e.to_dict() for e in self.entities],
            "traceability": [t.to_dict() for t in self.traceability],
            "notes": list(self.notes),
            "run": {"target": self.target, "generated_at": self.generated_at.isoformat()},
        }


def column_rules(spec: ReconcileSpec) -> dict[str, ColumnRule]:
    """How each compared (and key) column of the entity is compared, from the rule file."""
    rules = {}
    for column in (*spec.key_columns, *spec.compared_columns):
        rules[column] = ColumnRule(
            column_kind(spec.entity, column), spec.tolerances.get(column), spec.normalisations(column)
        )
    return rules


def compare_entity(
    store: WorkStore,
    target: Engine,
    spec: ReconcileSpec,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    method: str = "auto",
) -> CompareResult:
    """Mapped rows against target rows.

    `pushdown` (the default when the rules allow it, see `pushdown.applicable`, and a side is a
    database server): key ranges bisected on checksums computed by both databases, rows read
    only for small ranges that differ. `rows`: both sides read whole in storage order as Arrow,
    compared a hash bucket at a time (`columnar`)."""
    rules = column_rules(spec)
    columns = (*spec.key_columns, *spec.compared_columns)
    compared = {c: r for c, r in rules.items() if c in spec.compared_columns}
    key_rules = {c: rules[c] for c in spec.key_columns}
    has_map = store.has_table(mapped_table(spec.entity))
    if has_map and _pushes_down(method, store.engine, target, rules):
        return pushdown.compare_pushdown(
            _expected_side(store.engine, spec.entity, columns),
            _actual_side(target, spec.entity, columns),
            spec.key_columns,
            compared,
            key_rules=key_rules,
            segment_rows=min(chunk_size, pushdown.DEFAULT_SEGMENT_ROWS),
            batch_rows=chunk_size,
            max_details=spec.max_details,
        )
    # no mapped rows at all: an empty expected side, so every target row is reported
    expected = (store.engine, expected_sql(store.engine, spec.entity, columns, ordered=False))
    if not has_map:
        nulls = ", ".join(f"NULL AS {q}" for q in _quoted(target, columns))
        expected = (target, f"SELECT {nulls} WHERE 1 = 0")
    actual = (target, actual_sql(target, spec.entity, columns, ordered=False))
    return compare_tables(
        *expected,
        *actual,
        spec.key_columns,
        compared,
        key_rules=key_rules,
        chunk_size=chunk_size,
        max_details=spec.max_details,
    )


def _pushes_down(method: str, store: Engine, target: Engine, rules: dict[str, ColumnRule]) -> bool:
    """auto: push down only where a side is a database server; two SQLite files are read into
    Arrow faster than SQLite can hash their rows through a Python function (bench/reconcile.md)."""
    if method != "auto":
        return method == "pushdown"
    served = not (store.dialect.name == target.dialect.name == "sqlite")
    return served and pushdown.applicable(rules)


def _quoted(engine: Engine, columns) -> list[str]:
    return [engine.dialect.identifier_preparer.quote(c) for c in columns]


def _expected_side(engine: Engine, entity: str, columns) -> pushdown.Side:
    q = engine.dialect.identifier_preparer.quote
    return pushdown.Side(engine, q(mapped_table(entity)), {c: q(c) for c in columns})


def _actual_side(engine: Engine, entity: str, columns) -> pushdown.Side:
    exprs = {c: canonical_sql(engine, raw_expr(engine, entity, c), column_kind(entity, c)) for c in columns}
    return pushdown.Side(engine, from_clause(engine, entity), exprs)


def compare_tables(
    left: Engine,
    left_sql: str,
    right: Engine,
    right_sql: str,
    key: tuple[str, ...],
    rules: dict[str, ColumnRule],
    *,
    key_rules: dict[str, ColumnRule] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    bucket_rows: int = DEFAULT_BUCKET,
    max_details: int = 1000,
) -> CompareResult:
    """Any two SQL queries (in any order) giving the key and compared columns: both read as
    Arrow in storage order, split by key hash into buckets of about `bucket_rows` rows
    (`columnar.hashed_pairs`, memory bounded by the bucket size), each bucket pair compared
    with Arrow kernels."""
    columns = [*key, *rules]
    rows = max(_count(left, left_sql), _count(right, right_sql))
    buckets = -(-rows // max(1, bucket_rows))
    key_normalise = {k: r.normalise for k, r in (key_rules or {}).items() if r.normalise}
    # keys are normalised before they are hashed, so keys equal after normalising meet
    sides = [
        (normalise_batches(read_batches(e, sql, columns, chunk_size, rows=rows), key_normalise))
        for e, sql in ((left, left_sql), (right, right_sql))
    ]
    pairs = hashed_pairs(*sides, key[0], columns, buckets)
    return compare_tables_arrow(pairs, key, rules, max_details=max_details)


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM ({sql}) AS counted").scalar_one())


def reconcile(
    project: Project,
    entities: tuple[str, ...] | list[str] = (),
    *,
    phase: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    method: str = "auto",
    progress: Progress = NO_PROGRESS,
    max_details: int | None = None,
) -> ReconcileReport:
    """Reconcile the chosen entities of a project after a load (default: every entity with a
    mapping file or mapped rows). `max_details` overrides the rule files' cap on listed
    differences (a workbook lists them all)."""
    store, target = WorkStore(project.staging_url), make_engine(project.target_url)
    try:
        chosen = project.entities(tuple(entities), phase)
        if not entities and phase is None:  # the entities this project maps, not the whole model
            chosen = tuple(e for e in chosen if _mapped(project, store, e))
        specs = [load_spec(project, e) for e in chosen]  # every rule file validated before any work
        if max_details is not None:
            specs = [s.model_copy(update={"max_details": max_details}) for s in specs]
        scope = trace_scope(project, phase, target)
        report = reconcile_with(
            store, target, specs, chunk_size=chunk_size, method=method, progress=progress, scope=scope
        )
        return _planned_checks(project, report)
    finally:
        store.dispose()
        target.dispose()


def _planned_checks(project: Project, report: ReconcileReport) -> ReconcileReport:
    """Leave out traceability checks reading an entity no phase of the plan carries: they could
    never run, yet said "not yet loaded" on every reconcile (a plan of suppliers, materials and
    lots has no genealogy to check)."""
    try:
        planned = {e for p in project.plan.phases for e in p.entities}
    except MigrateError:  # no plan (a bare reconcile project): every check stays
        return report
    needs = {c.name: c.needs for c in CHECKS}
    kept = tuple(c for c in report.traceability if all(e in planned for e in needs[c.name]))
    return replace(report, traceability=kept)


def _mapped(project: Project, store: WorkStore, entity: str) -> bool:
    """A mapping file, or mapped rows in the work store (written by an earlier mapping)."""
    from migrate.mapping.spec import mapping_path

    return mapping_path(project.root, entity).exists() or store.has_table(mapped_table(entity))


def reconcile_with(
    store: WorkStore,
    target: Engine,
    specs: list[ReconcileSpec],
    *,
    chunk_size: int = DEFAULT_CHUNK,
    method: str = "auto",
    progress: Progress = NO_PROGRESS,
    scope: frozenset[str] | None = None,
) -> ReconcileReport:
    """The same, given an open work store and target (tests, benchmarks, `phase run`); `scope`:
    the entities traceability checks may compare (None: all)."""
    task = progress.task("reconcile", total=len(specs), unit="entities")
    reports = []
    for spec in specs:
        task.update(description=f"reconcile {spec.entity}")
        rows = compare_entity(store, target, spec, chunk_size=chunk_size, method=method)
        reports.append(
            EntityReport(
                spec.entity,
                rows,
                account(store, target, spec.entity, loaded=rows.matched_rows),
                tuple(control_total(store, target, spec.entity, t) for t in spec.control_totals),
                {c: r.kind for c, r in column_rules(spec).items()},
            )
        )
        task.advance()
    checks = trace(store, target, tuple(s.entity for s in specs), scope)
    return ReconcileReport(tuple(reports), tuple(checks), mask_url(target.url), utcnow())
