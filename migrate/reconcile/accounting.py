"""Row accounting: source rows = mapped + rejected + filtered (map's run record), mapped rows
as staged for load, and rows present in the target now."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from migrate.model import ENTITIES
from migrate.store import WorkStore, mapped_table


@dataclass(frozen=True)
class AccountingResult:
    entity: str
    recorded: bool  # map_runs has a run for this entity
    source_rows: int | None
    mapped: int | None
    rejected: int | None
    filtered: int | None
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    filtered_by_filter: dict[str, int] = field(default_factory=dict)
    rejects_listed: int = 0  # rows in map_rejects for the entity
    mapped_rows_staged: int = 0  # rows in map_<entity>
    in_target: int = 0
    loaded: int = 0  # expected rows found in the target (from the row-level comparison)

    @property
    def adds_up(self) -> bool:
        if not self.recorded:
            return True  # nothing recorded to contradict; reported as such
        return (
            self.source_rows == self.mapped + self.rejected + self.filtered
            and self.rejected == self.rejects_listed
            and self.mapped == self.mapped_rows_staged
            and self.loaded == self.mapped_rows_staged
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "recorded": self.recorded,
            "adds_up": self.adds_up,
            "source_rows": self.source_rows,
            "mapped": self.mapped,
            "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "filtered": self.filtered,
            "filtered_by_filter": dict(sorted(self.filtered_by_filter.items())),
            "rejects_listed": self.rejects_listed,
            "mapped_rows_staged": self.mapped_rows_staged,
            "loaded": self.loaded,
            "in_target": self.in_target,
        }


def account(store: WorkStore, target: Engine, entity: str, loaded: int) -> AccountingResult:
    """The entity's row accounting from map's records, the work store and the target."""
    run = _last_run(store, entity)
    rejects = (
        _count(store.engine, "map_rejects", "entity = :e", {"e": entity})
        if store.has_table("map_rejects")
        else 0
    )
    common = {
        "rejects_listed": rejects,
        "mapped_rows_staged": store.count(mapped_table(entity)),
        "in_target": _count(target, ENTITIES[entity].table.name),
        "loaded": loaded,
    }
    if run is None:
        return AccountingResult(entity, False, None, None, None, None, **common)
    details = json.loads(run["details"] or "{}")
    return AccountingResult(
        entity,
        True,
        int(run["source_rows"]),
        int(run["mapped"]),
        int(run["rejected"]),
        int(run["filtered"]),
        {k: int(v) for k, v in details.get("rejected_by_reason", {}).items()},
        {k: int(v) for k, v in details.get("filtered_by_filter", {}).items()},
        **common,
    )


def _last_run(store: WorkStore, entity: str) -> dict | None:
    if not store.has_table("map_runs"):
        return None
    sql = (
        "SELECT source_rows, mapped, rejected, filtered, details FROM map_runs "
        "WHERE entity = :e ORDER BY run_at DESC LIMIT 1"
    )
    with store.engine.connect() as c:
        row = c.execute(text(sql), {"e": entity}).mappings().first()
    return dict(row) if row else None


def _count(engine: Engine, table: str, where: str = "", params: dict | None = None) -> int:
    quoted = engine.dialect.identifier_preparer.quote(table)
    sql = f"SELECT COUNT(*) FROM {quoted}" + (f" WHERE {where}" if where else "")
    with engine.connect() as c:
        return int(c.execute(text(sql), params or {}).scalar_one())
