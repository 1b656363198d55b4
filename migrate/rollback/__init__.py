"""Cutover points and exact rollback (docs/guarantees.md#exact-rollback).

    point = record_point(url, "master-data", phase="master-data", operator="li.wei")
    result = rollback(url, "start", operator="li.wei")      # result.exact: every hash matches

`points` records and finds cutover points, `replay` is the SQL inverse of ledger entries
(`foreign` keeps the rows in an inserted range the load did not write as they are),
`engine` the chunked, resumable `rollback run`, `readiness` the checks and the rehearsal,
`plan` the plan of automatic and manual steps.

The API is imported on first use (`migrate.lazyexports`): `phase` records cutover points
(`points`) without importing the rollback engine and the load stage beneath it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate.lazyexports import lazy_exports

if TYPE_CHECKING:
    from migrate.rollback.engine import RollbackResult, rollback
    from migrate.rollback.points import (
        START,
        CutoverPoint,
        ensure_start_point,
        find_point,
        list_points,
        record_point,
    )
    from migrate.rollback.readiness import ReadinessReport, RehearsalResult, readiness, rehearse

_HOMES = {
    "RollbackResult": "engine",
    "rollback": "engine",
    "START": "points",
    "CutoverPoint": "points",
    "ensure_start_point": "points",
    "find_point": "points",
    "list_points": "points",
    "record_point": "points",
    "ReadinessReport": "readiness",
    "RehearsalResult": "readiness",
    "readiness": "readiness",
    "rehearse": "readiness",
}

__all__ = [
    "START",
    "CutoverPoint",
    "ReadinessReport",
    "RehearsalResult",
    "RollbackResult",
    "ensure_start_point",
    "find_point",
    "list_points",
    "readiness",
    "record_point",
    "rehearse",
    "rollback",
]
__getattr__ = lazy_exports(__name__, _HOMES)
