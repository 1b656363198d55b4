"""`rollback plan`: what a rollback to a point would do, in order, and how long it would take.

The automatic steps come from the ledger (per entity: rows to delete, restore, re-insert,
in the order the replay undoes them); the manual steps, owners and time estimates come
from `rollback/<point>.yaml`, validated like every project file (file + key path).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field
from sqlalchemy.engine import URL

from migrate.db import make_engine
from migrate.load.connection import connect
from migrate.project import Project, Spec, read_yaml, validated
from migrate.rollback.engine import ROW_WORD, pending
from migrate.rollback.points import POINT_NAME, find_point
from migrate.rollback.replay import groups
from migrate.urls import mask_url

ROLLBACK_DIR = "rollback"


class ManualStep(Spec):
    step: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    minutes: float = Field(gt=0)
    when: Literal["before", "after"] = "after"  # before or after the automatic replay


class RollbackPlanSpec(Spec):
    """`rollback/<point>.yaml`."""

    description: str = ""
    # what the automatic replay is estimated at (measure yours with `migrate rollback rehearse`)
    rows_per_second: float = Field(default=20_000, gt=0)
    steps: tuple[ManualStep, ...] = ()


def plan_file(project: Project, point: str) -> Path:
    return project.root / ROLLBACK_DIR / f"{point}.yaml"


def read_plan_spec(project: Project, point: str) -> RollbackPlanSpec | None:
    """The point's plan file, validated; None when the project has none for it."""
    path = plan_file(project, point)
    if not path.exists():
        return None
    data = read_yaml(path, project.root)
    return validated(RollbackPlanSpec, data if data is not None else {}, path, project.root)


@dataclass(frozen=True)
class AutomaticStep:
    entity: str
    deleted: int
    restored: int
    reinserted: int

    @property
    def rows(self) -> int:
        return self.deleted + self.restored + self.reinserted


@dataclass(frozen=True)
class RollbackPlan:
    point: str
    target: str
    plan_file: str | None
    automatic: tuple[AutomaticStep, ...]
    before: tuple[ManualStep, ...]
    after: tuple[ManualStep, ...]
    automatic_minutes: float

    @property
    def total_minutes(self) -> float:
        return self.automatic_minutes + sum(s.minutes for s in (*self.before, *self.after))

    def to_dict(self) -> dict:
        return {
            "ok": True,
            "point": self.point,
            "target": self.target,
            "plan_file": self.plan_file,
            "manual_before": [s.model_dump() for s in self.before],
            "automatic": [{**s.__dict__, "rows": s.rows} for s in self.automatic],
            "manual_after": [s.model_dump() for s in self.after],
            "automatic_minutes": round(self.automatic_minutes, 2),
            "total_minutes": round(self.total_minutes, 2),
        }


def automatic_steps(url: URL, to: str) -> tuple[str, list[AutomaticStep]]:
    """(point name, the replay's steps): consecutive groups of one entity merged into one step."""
    engine = make_engine(url)
    try:
        point = find_point(engine, to)
    finally:
        engine.dispose()
    conn = connect(url)
    try:
        entries = pending(conn, point)
        conn.rollback()
    finally:
        conn.close()
    steps: list[dict] = []
    for group in groups(entries):
        if not steps or steps[-1]["entity"] != group.entity:
            steps.append({"entity": group.entity, "deleted": 0, "restored": 0, "reinserted": 0})
        steps[-1][ROW_WORD[group.op]] += group.rows
    return point.name, [AutomaticStep(**s) for s in steps]


def plan(project: Project, to: str) -> RollbackPlan:
    """The automatic and manual steps of a rollback to `to`, with a total estimate."""
    # a broken plan file is refused before the target is read
    early = read_plan_spec(project, to) if POINT_NAME.match(to) else None
    point, steps = automatic_steps(project.target_url, to)
    spec = early if point == to else read_plan_spec(project, point)
    rate = spec.rows_per_second if spec else RollbackPlanSpec().rows_per_second
    manual = spec.steps if spec else ()
    return RollbackPlan(
        point=point,
        target=mask_url(project.target_url),
        plan_file=f"{ROLLBACK_DIR}/{point}.yaml" if spec else None,
        automatic=tuple(steps),
        before=tuple(s for s in manual if s.when == "before"),
        after=tuple(s for s in manual if s.when == "after"),
        automatic_minutes=sum(s.rows for s in steps) / rate / 60,
    )
