"""Traceability: every lot's chain is complete where the source says it should be.

Each check is run twice with SQL: on the mapped rows in the work store (what the source
says, natural keys) and on the target (ids joined). A break found in the target that the
source did not have is a failure, named by its key; a break the source already had is
reported (the legacy data was incomplete) but is not the migration's fault.

A check runs only when every entity it reads is in scope (loaded, and carried by the phase
being checked or one it depends on): comparing lots with movements a later phase will load
would report every lot as a break. Otherwise it says "not yet loaded" and names them.

Scale: the work store's natural-key and reference columns the checks look up are indexed
before the checks run (`INDEXES`), so each NOT EXISTS is an index probe, not a scan; on
the target they are foreign keys, indexed by the model. A long check stops at Ctrl-C.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from migrate.store import WorkStore, mapped_table


@dataclass(frozen=True)
class TraceCheck:
    name: str
    description: str
    key: tuple[str, ...]
    needs: tuple[str, ...]  # entities whose mapped rows the check reads
    expected_sql: str  # over map_<entity> tables (natural keys)
    target_sql: str  # over the target (ids)


_ORIGIN = "('receipt', 'production_receipt')"
CHECKS: tuple[TraceCheck, ...] = (
    TraceCheck(
        "lot_origin",
        "every lot has a receipt or production (a receipt movement or a genealogy link producing it)",
        ("lot_no",),
        ("material_lot", "inventory_movement", "lot_genealogy"),
        "SELECT m.lot_no FROM map_material_lot m WHERE NOT EXISTS (SELECT 1 FROM map_inventory_movement i "
        f"WHERE i.lot_no = m.lot_no AND i.movement_type IN {_ORIGIN}) AND NOT EXISTS "
        "(SELECT 1 FROM map_lot_genealogy g WHERE g.child_lot_no = m.lot_no)",
        "SELECT m.lot_no FROM material_lot m WHERE NOT EXISTS (SELECT 1 FROM inventory_movement i "
        f"WHERE i.lot_id = m.id AND i.movement_type IN {_ORIGIN}) AND NOT EXISTS "
        "(SELECT 1 FROM lot_genealogy g WHERE g.child_lot_id = m.id)",
    ),
    TraceCheck(
        "genealogy_links",
        "every genealogy link points at an existing parent lot, child lot and work order",
        ("parent_lot_no", "child_lot_no", "work_order_no"),
        ("lot_genealogy", "material_lot", "work_order"),
        "SELECT g.parent_lot_no, g.child_lot_no, g.work_order_no FROM map_lot_genealogy g "
        "WHERE NOT EXISTS (SELECT 1 FROM map_material_lot p WHERE p.lot_no = g.parent_lot_no) "
        "OR NOT EXISTS (SELECT 1 FROM map_material_lot c WHERE c.lot_no = g.child_lot_no) "
        "OR NOT EXISTS (SELECT 1 FROM map_work_order w WHERE w.work_order_no = g.work_order_no)",
        "SELECT p.lot_no, c.lot_no, w.work_order_no FROM lot_genealogy g "
        "LEFT JOIN material_lot p ON p.id = g.parent_lot_id LEFT JOIN material_lot c ON c.id = g.child_lot_id "
        "LEFT JOIN work_order w ON w.id = g.work_order_id "
        "WHERE p.id IS NULL OR c.id IS NULL OR w.id IS NULL",
    ),
    TraceCheck(
        "released_inspected",
        "every released lot has a quality inspection",
        ("lot_no",),
        ("material_lot", "quality_inspection"),
        "SELECT m.lot_no FROM map_material_lot m WHERE m.status = 'released' AND NOT EXISTS "
        "(SELECT 1 FROM map_quality_inspection q WHERE q.lot_no = m.lot_no)",
        "SELECT m.lot_no FROM material_lot m WHERE m.status = 'released' AND NOT EXISTS "
        "(SELECT 1 FROM quality_inspection q WHERE q.lot_id = m.id)",
    ),
    TraceCheck(
        "shipment_lots",
        "every shipment line ships an existing lot",
        ("shipment_no", "line_no"),
        ("shipment", "material_lot"),
        "SELECT s.shipment_no, s.line_no FROM map_shipment s WHERE NOT EXISTS "
        "(SELECT 1 FROM map_material_lot m WHERE m.lot_no = s.lot_no)",
        "SELECT s.shipment_no, CAST(s.line_no AS TEXT) FROM shipment s "
        "LEFT JOIN material_lot m ON m.id = s.lot_id WHERE m.id IS NULL",
    ),
)


#: Work-store columns the checks look rows up by: (entity, columns) of each index.
INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("material_lot", ("lot_no",)),
    ("work_order", ("work_order_no",)),
    ("inventory_movement", ("lot_no", "movement_type")),
    ("lot_genealogy", ("child_lot_no",)),
    ("quality_inspection", ("lot_no",)),
)

CHECKED, NOT_YET_LOADED, NOT_MAPPED = "checked", "not yet loaded", "not mapped"


@dataclass(frozen=True)
class TraceResult:
    name: str
    description: str
    applicable: bool
    key: tuple[str, ...]
    expected_breaks: frozenset[tuple[str, ...]] = frozenset()
    target_breaks: frozenset[tuple[str, ...]] = frozenset()
    max_listed: int = 100
    status: str = CHECKED  # or NOT_YET_LOADED / NOT_MAPPED, with `waiting_for`
    waiting_for: tuple[str, ...] = ()

    @property
    def state(self) -> str:
        """One line for people: "ok", "3 new breaks", "not yet loaded: lot_genealogy"."""
        if self.status != CHECKED:
            return f"{self.status}: {', '.join(self.waiting_for)}"
        return "ok" if self.ok else f"{len(self.new_in_target)} new breaks"

    @property
    def new_in_target(self) -> list[tuple[str, ...]]:
        return sorted(self.target_breaks - self.expected_breaks)

    @property
    def fixed_in_target(self) -> list[tuple[str, ...]]:
        return sorted(self.expected_breaks - self.target_breaks)

    @property
    def ok(self) -> bool:
        return not self.new_in_target

    def to_dict(self) -> dict[str, Any]:
        def keys(items: list[tuple[str, ...]]) -> list[dict[str, Any]]:
            return [dict(zip(self.key, k, strict=True)) for k in items[: self.max_listed]]

        return {
            "name": self.name,
            "description": self.description,
            "applicable": self.applicable,
            "status": self.status,
            "waiting_for": list(self.waiting_for),
            "ok": self.ok,
            "breaks_in_source": len(self.expected_breaks),
            "breaks_in_target": len(self.target_breaks),
            "new_in_target": keys(self.new_in_target),
            "source_breaks_absent_in_target": keys(self.fixed_in_target),
        }


def trace(
    store: WorkStore, target: Engine, entities: tuple[str, ...], scope: frozenset[str] | None = None
) -> list[TraceResult]:
    """The checks reading any of the chosen entities. `scope`: the entities that may be compared
    (loaded, in this phase or one it depends on; None: all); a check reading others is not run
    and says "not yet loaded"."""
    out, indexed = [], False
    for check in CHECKS:
        if not set(check.needs) & set(entities):
            continue
        later = tuple(e for e in check.needs if scope is not None and e not in scope)
        unmapped = tuple(e for e in check.needs if not store.has_table(mapped_table(e)))
        if later or unmapped:
            status = NOT_YET_LOADED if later else NOT_MAPPED
            out.append(
                TraceResult(
                    check.name,
                    check.description,
                    False,
                    check.key,
                    status=status,
                    waiting_for=later or unmapped,
                )
            )
            continue
        if not indexed:
            index_store(store)
            indexed = True
        out.append(
            TraceResult(
                check.name,
                check.description,
                True,
                check.key,
                _keys(store.engine, check.expected_sql),
                _keys(target, check.target_sql),
            )
        )
    return out


def _ancestors(plan, name: str) -> set[str]:
    """The phase and every phase it depends on, directly or not."""
    by_name = {p.name: p for p in plan.phases}
    seen, todo = set(), [name]
    while todo:
        phase = todo.pop()
        if phase not in seen:
            seen.add(phase)
            todo.extend(by_name[phase].depends_on)
    return seen


def phase_entities(plan, phase: str) -> frozenset[str]:
    """Entities carried by the phase and by the phases it depends on: what its gate may compare."""
    ancestors = _ancestors(plan, phase)
    return frozenset(e for p in plan.phases if p.name in ancestors for e in p.entities)


def trace_scope(project, phase: str | None, target: Engine) -> frozenset[str]:
    """Entities loaded in the target (and, for a phase, carried by it or a phase it depends on)."""
    from migrate.model import LOAD_ORDER
    from migrate.phase import entity_states  # the load states `phase status` shows

    carried = phase_entities(project.plan, phase) if phase else frozenset(LOAD_ORDER)
    states = entity_states(target, tuple(e for e in LOAD_ORDER if e in carried))
    return frozenset(s.entity for s in states if s.state == "loaded")


def plan_problem(plan) -> str | None:
    """Each check runs at the gate of the last phase carrying an entity it reads; that phase must
    depend on the phases carrying the others, or its gate could never compare them."""
    carrier = {e: p.name for p in plan.phases for e in p.entities}
    order = [p.name for p in plan.phases]
    for check in CHECKS:
        phases = {carrier[e] for e in check.needs if e in carrier}
        if not phases:
            continue
        gate = max(phases, key=order.index)
        scope = phase_entities(plan, gate)
        outside = [e for e in check.needs if e in carrier and e not in scope]
        if outside:
            return (
                f"the reconcile gate of phase {gate} runs the traceability check {check.name}, which reads "
                f"{', '.join(outside)} from phase {carrier[outside[0]]}: add {carrier[outside[0]]} to the "
                f"depends_on of {gate}"
            )
    return None


def index_store(store: WorkStore) -> None:
    """Index the mapped columns the checks look rows up by (kept until map rewrites the table).
    A work store that cannot be written (read-only) is checked without them, slower."""
    tables = [(mapped_table(e), cols) for e, cols in INDEXES if store.has_table(mapped_table(e))]
    try:
        with store.engine.begin() as c, _interruptible(c):
            for table, columns in tables:
                cols = ", ".join(f'"{col}"' for col in columns)
                c.exec_driver_sql(
                    f'CREATE INDEX IF NOT EXISTS "ix_{table}_{columns[0]}" ON "{table}" ({cols})'
                )
    except DBAPIError:
        pass


def _keys(engine: Engine, sql: str) -> frozenset[tuple[str, ...]]:
    with engine.connect() as c, _interruptible(c):
        return frozenset(tuple("" if v is None else str(v) for v in row) for row in c.exec_driver_sql(sql))


@contextmanager
def _interruptible(conn: Connection) -> Iterator[None]:
    """Ctrl-C stops a long SQLite query promptly: Python runs its signal handlers only between
    its own instructions, so SQLite calls back every 100,000 steps to let it; the query then
    ends "interrupted", and the KeyboardInterrupt is raised again. (psycopg cancels a
    PostgreSQL query on Ctrl-C itself.)"""
    raw = conn.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection):
        yield
        return
    raw.set_progress_handler(lambda: 0, 100_000)
    try:
        yield
    except DBAPIError as error:
        if isinstance(error.orig, sqlite3.OperationalError) and "interrupted" in str(error.orig):
            raise KeyboardInterrupt from error
        raise
    finally:
        raw.set_progress_handler(None, 0)
