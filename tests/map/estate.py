"""A small staged estate for the mapping-language tests: master data mapped plainly, so the
entities under test have something to refer to, and `run` to map and read back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from migrate.mapping import map_entities
from migrate.project import Project
from migrate.store import WorkStore
from tests.map.helpers import stage, write_mapping, write_project

BASE = {
    "material": {
        "sources": ["items"],
        "columns": {
            "material_code": {"from": "ItemNo"},
            "name": {"from": "ItemName"},
            "material_type": {"const": "raw"},
            "base_uom": {"const": "kg"},
        },
    },
    "customer": {
        "sources": ["clients"],
        "columns": {"customer_code": {"from": "Code"}, "name": {"from": "Name"}},
    },
    "equipment": {
        "sources": ["machines"],
        "columns": {"equipment_code": {"from": "Code"}, "name": {"from": "Code"}},
    },
}
ITEMS = [
    {"ItemId": "1", "ItemNo": "M001", "ItemName": "Steel"},
    {"ItemId": "2", "ItemNo": "M002", "ItemName": "Screw"},
    {"ItemId": "3", "ItemNo": "M003", "ItemName": ""},
]


def build(root: Path, sources: dict[str, list[dict]], mappings: dict[str, dict]) -> Project:
    """Items, clients and machines staged and mapped plainly, plus the sources and mappings given."""
    every = {
        "items": ITEMS,
        "clients": [{"Code": "C1", "Name": "Acme"}],
        "machines": [{"Code": "E1"}],
    } | sources
    write_project(root, {name: [] for name in every})
    for name, rows in every.items():
        stage(root, name, rows)
    for entity, spec in (BASE | mappings).items():
        write_mapping(root, entity, spec)
    return Project(root)


def run(project: Project, *entities: str, simulate: bool = False):
    """Map the entities (with the base ones first); the result of each by name."""
    result = map_entities(project, ("material", "customer", "equipment", *entities), simulate=simulate)
    return {e.entity: e for e in result.entities}


def read(project: Project, name: str) -> pd.DataFrame:
    store = WorkStore(project.staging_url)
    try:
        frames = list(store.read_chunks(name))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    finally:
        store.dispose()


def rejects(project: Project, entity: str) -> pd.DataFrame:
    frame = read(project, "map_rejects")
    return frame[frame.entity == entity].reset_index(drop=True)


def accounted(result) -> bool:
    """Row accounting, for the whole and for each source."""
    whole = result.source_rows == result.mapped + result.rejected + result.filtered
    parts = all(s.rows == s.mapped + s.rejected + s.filtered for s in result.by_source)
    sums = (
        sum(s.rows for s in result.by_source) == result.source_rows
        and sum(s.mapped for s in result.by_source) == result.mapped
        and sum(s.rejected for s in result.by_source) == result.rejected
    )
    return whole and parts and sums
