"""Reconcile: what was loaded against what the legacy sources held, in four levels.

Row accounting, control totals, row-level differences (key, column, expected, actual)
and traceability checks, in one report (`ReconcileReport`) rendered by the CLI as a
terminal summary, JSON or an xlsx workbook.
"""

from migrate.reconcile.compare import ColumnRule, CompareResult, compare_chunks, compare_frames
from migrate.reconcile.core import (
    EntityReport,
    ReconcileReport,
    compare_entity,
    compare_tables,
    reconcile,
    reconcile_with,
)
from migrate.reconcile.spec import ControlTotal, ReconcileSpec, Tolerance, load_spec

__all__ = [
    "ColumnRule",
    "CompareResult",
    "ControlTotal",
    "EntityReport",
    "ReconcileReport",
    "ReconcileSpec",
    "Tolerance",
    "compare_chunks",
    "compare_entity",
    "compare_frames",
    "compare_tables",
    "load_spec",
    "reconcile",
    "reconcile_with",
]
