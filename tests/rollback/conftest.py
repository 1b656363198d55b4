"""Fixtures for rollback tests: a target taken through three phases, with points C0..C3.

The scenario (`build`): phase 1 loads master data (C1); phase 2 lots, work orders,
movements, genealogy (C2); phase 3 is a delta — three materials renamed (updates), five
movements deleted and two changed (`--delete-missing`), and the high-volume and leaf
entities inserted (C3). C0 is the start point the first load records by itself.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from migrate.db import make_engine
from migrate.load import load
from migrate.rollback import record_point
from migrate.urls import parse_url
from tests.load.conftest import hashes, scalar, target, targets  # noqa: F401 (fixtures)
from tests.load.mapped import make_store, parents, process_parameters

PHASE1 = ["supplier", "customer", "material", "equipment"]
PHASE2 = ["material_lot", "work_order", "inventory_movement", "lot_genealogy"]
PHASE3 = [
    "material",
    "inventory_movement",
    "process_parameter",
    "quality_inspection",
    "equipment_status",
    "shipment",
]
POINTS = ("start", "C1", "C2", "C3")


def delta_rows() -> dict[str, list[dict]]:
    rows = parents()
    for i in (1, 4, 7):
        rows["material"][i]["name"] = f"物料{i} (renamed)"
    movements = rows["inventory_movement"]
    for i in (2, 3):
        movements[i]["quantity"] = "-9.250000"
    rows["inventory_movement"] = movements[:25]  # the last five are deleted
    return rows


@dataclass
class Stores:
    first: str  # the master data and phase 2 as first extracted
    delta: str  # phase 3's sources (renames, changed and missing movements, history)


@pytest.fixture
def stores(tmp_path) -> Stores:
    first = make_store(tmp_path / "first.db", 300)
    delta = make_store(tmp_path / "delta.db", process_parameters(300), extra=delta_rows())
    return Stores(first, delta)


def build(url: str, stores: Stores) -> dict[str, dict[str, str]]:
    """Take an empty target through three phases; the hashes recorded at each point."""
    target_url = parse_url(url)
    load(url, stores.first, PHASE1, chunk_size=7)
    record_point(target_url, "C1", phase="master-data", operator="test")
    load(url, stores.first, PHASE2, chunk_size=7)
    record_point(target_url, "C2", phase="open-inventory", operator="test")
    load(url, stores.delta, PHASE3, chunk_size=50, delete_missing={"inventory_movement"})
    record_point(target_url, "C3", phase="production-history", operator="test")
    return recorded(url)


def recorded(url: str) -> dict[str, dict[str, str]]:
    import json

    engine = make_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(
                text("SELECT name, hashes FROM migrate_cutover_point WHERE superseded_by IS NULL")
            ).all()
    finally:
        engine.dispose()
    return {name: json.loads(h) for name, h in rows}


def clone(url: str, tmp: Path, made: list[str]) -> str:
    """A copy of a target in its present state (SQLite: the file; PostgreSQL: TEMPLATE)."""
    if url.startswith("sqlite"):
        path = tmp / f"c_{uuid.uuid4().hex[:8]}.db"
        shutil.copy(url.removeprefix("sqlite:///"), path)
        return f"sqlite:///{path}"
    base, _, name = url.rpartition("/")
    new = f"c_{uuid.uuid4().hex[:12]}"
    admin = make_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{new}" TEMPLATE "{name}"'))
    admin.dispose()
    made.append(f"{base}/{new}")
    return f"{base}/{new}"


@pytest.fixture
def phased(targets, stores, tmp_path):  # noqa: F811 (the imported fixture)
    """(a target at C3, the recorded hashes, a function making copies of it)."""
    url = targets.fresh()
    points = build(url, stores)
    made: list[str] = []
    yield url, points, lambda: clone(url, tmp_path, made)
    for extra in made:
        base, _, name = extra.rpartition("/")
        admin = make_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def rows_of(url: str, table: str) -> list[tuple]:
    """Every column of every row, ids and timestamps included, in id order."""
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(text(f'SELECT * FROM "{table}" ORDER BY id'))]
    finally:
        engine.dispose()


__all__ = ["hashes", "scalar", "build", "clone", "rows_of", "POINTS"]
