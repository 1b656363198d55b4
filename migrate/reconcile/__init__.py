"""Reconcile: what was loaded against what the legacy sources held, in four levels.

Row accounting, control totals, row-level differences (key, column, expected, actual)
and traceability checks, in one report (`ReconcileReport`) rendered by the CLI as a
terminal summary, JSON or an xlsx workbook.

The API is imported on first use (`migrate.lazyexports`): the phase plan's checks
(`reconcile.trace`) do not import pandas, numpy and deepdiff with `compare`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate.lazyexports import lazy_exports

if TYPE_CHECKING:
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

_HOMES = {
    "ColumnRule": "compare",
    "CompareResult": "compare",
    "compare_chunks": "compare",
    "compare_frames": "compare",
    "EntityReport": "core",
    "ReconcileReport": "core",
    "compare_entity": "core",
    "compare_tables": "core",
    "reconcile": "core",
    "reconcile_with": "core",
    "ControlTotal": "spec",
    "ReconcileSpec": "spec",
    "Tolerance": "spec",
    "load_spec": "spec",
}

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
__getattr__ = lazy_exports(__name__, _HOMES)
