"""The reference project: `migrate map --simulate --json` matches the fixture manifest exactly,
entity by entity, reason by reason, and row by row (every injected defect is the reject it predicts)."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.extract import extract
from migrate.project import Project
from migrate.store import WorkStore

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((ROOT / "fixtures" / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A copy of the reference project (its own .migrate), extracted once."""
    root = tmp_path_factory.mktemp("reference")
    for name in ("project.yaml", "fixtures", "mappings", "phases"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        elif source.exists():
            shutil.copy(source, root / name)
    extract(Project(root))
    return root


def run(root: Path, *args: str):
    return CliRunner().invoke(app, ["--project", str(root), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def simulated(reference) -> dict:
    result = run(reference, "--json", "map", "--simulate")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("entity", sorted(MANIFEST["entities"]))
def test_counts_match_the_manifest(simulated, entity):
    expected = MANIFEST["entities"][entity]
    got = simulated["entities"][entity]
    assert got["source_rows"] == expected["source_rows"]
    assert got["rejected_by_reason"] == expected["rejects"]
    assert (got["mapped"], got["rejected"], got["filtered"]) == (expected["mapped"], expected["rejected"], 0)
    assert got["source_rows"] == got["mapped"] + got["rejected"] + got["filtered"]


def test_every_defect_is_its_predicted_reject(reference):
    """Row by row: the rejects' lineage and reasons are exactly the manifest's defects."""
    result = run(reference, "--json", "map")
    assert result.exit_code == 0, result.output
    store = WorkStore(Project(reference).staging_url)
    try:
        rejects = next(store.read_chunks("map_rejects", chunk_size=1_000_000))
    finally:
        store.dispose()
    got = sorted(zip(rejects["_source"], rejects["_row"].astype(int), rejects["reason"], strict=True))
    expected = sorted((d["source"], int(d["row"]), d["reason"]) for d in MANIFEST["defects"])
    assert got == expected


def test_in_spec_derived_from_value_and_limits(reference):
    """process_parameter.in_spec is the reading within its limits, decided on exact decimals."""
    assert run(reference, "--json", "map", "process_parameter").exit_code == 0
    store = WorkStore(Project(reference).staging_url)
    try:
        mapped = next(store.read_chunks("map_process_parameter", chunk_size=10_000_000))
    finally:
        store.dispose()
    rows = mapped[["value", "lower_limit", "upper_limit", "in_spec"]].astype(object).to_numpy()
    expected = [
        None if v is None else str(_within(Decimal(v), lo and Decimal(lo), hi and Decimal(hi))).lower()
        for v, lo, hi, _ in ((None if pd.isna(x) else x for x in row) for row in rows)
    ]
    got = [None if pd.isna(x) else x for x in mapped["in_spec"]]
    assert got == expected
    assert {"true", "false"} <= set(got)  # the factory plants readings outside their limits


def _within(value: Decimal, low: Decimal | None, high: Decimal | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def test_simulate_leaves_the_mapped_tables_alone(reference):
    store = WorkStore(Project(reference).staging_url)
    try:
        before = {t: store.count(t) for t in ("map_material", "map_rejects")}
        assert run(reference, "--json", "map", "--simulate").exit_code == 0
        assert {t: store.count(t) for t in before} == before
    finally:
        store.dispose()
    assert not (reference / ".migrate" / "target.db").exists()


def test_phase_by_phase_resolves_against_earlier_phases(reference):
    """Mapping the open-inventory phase alone resolves materials mapped by an earlier run."""
    assert run(reference, "--json", "map", "--phase", "master-data").exit_code == 0
    result = run(reference, "--json", "map", "--phase", "open-inventory")
    assert result.exit_code == 0, result.output
    lots = json.loads(result.stdout)["entities"]["material_lot"]
    assert lots["rejected_by_reason"] == MANIFEST["entities"]["material_lot"]["rejects"]
