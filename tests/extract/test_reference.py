"""The reference project's every legacy source extracts with the manifest's exact row counts,
lineage on every row, and every seeded defect found as written at its file, sheet and row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from migrate.extract import check_sources, extract
from migrate.project import Project
from migrate.store import normalize_header
from tests.extract.helpers import staged

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((ROOT / "fixtures" / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A copy of the reference project (its work store must not land in the repository)."""
    root = tmp_path_factory.mktemp("reference")
    shutil.copy(ROOT / "project.yaml", root / "project.yaml")
    shutil.copytree(ROOT / "fixtures", root / "fixtures")
    project = Project(root)
    result = extract(project)
    return project, {s.source: s for s in result.sources}


def test_every_source_is_declared_and_extracted(reference):
    project, results = reference
    assert set(results) == set(MANIFEST["sources"]) == set(project.spec.sources)


@pytest.mark.parametrize("source", sorted(MANIFEST["sources"]))
def test_row_counts_and_lineage(reference, source):
    project, results = reference
    expected = MANIFEST["sources"][source]
    rows = staged(project, source)
    assert results[source].rows == len(rows) == expected["rows"]
    if expected["kind"] != "sql":
        assert results[source].sheets == expected["sheets"]
        assert {r["_file"] for r in rows} == {project.spec.sources[source].path}
    assert all(r["_source"] == source and r["_row"] >= 1 and r["_run"] for r in rows)
    assert len({(r["_sheet"], r["_row"]) for r in rows}) == len(rows)


@pytest.mark.parametrize("source", sorted({d["source"] for d in MANIFEST["defects"]}))
def test_defects_found_as_written_where_the_manifest_says(reference, source):
    project, _ = reference
    rows = {(r["_sheet"] or "", r["_row"]): r for r in staged(project, source)}
    defects = [d for d in MANIFEST["defects"] if d["source"] == source]
    for defect in defects:
        sheet = defect["sheet"] if MANIFEST["sources"][source]["kind"] != "csv" else ""
        sheet = "" if MANIFEST["sources"][source]["kind"] == "sql" else sheet
        row = rows[(sheet or "", defect["row"])]
        value = row[_column(row, defect["column"])]
        expected = defect["value"]
        if expected is None:
            assert value is None or not value.strip(), (defect, value)
        else:
            assert value == _text(expected), (defect, value)


def _column(row: dict, leaf: str) -> str:
    """The manifest names a two-row header's column by its leaf (单位); staging by `group leaf`."""
    name = normalize_header(leaf)
    if name in row:
        return name
    (match,) = [c for c in row if c.endswith(" " + name)]
    return match


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_leading_zeros_long_codes_and_na_texts_intact(reference):
    project, _ = reference
    lots = staged(project, "lots")
    assert MANIFEST["variants"]["lots"]["leading_zero"] > 0
    texts = [v for r in lots for v in r.values() if isinstance(v, str)]
    assert any(t.startswith("0") and t.isdigit() and len(t) > 1 for t in texts)
    materials = staged(project, "materials")
    codes = [
        r for r in materials if any(isinstance(v, str) and v[:1] == "0" and v.isdigit() for v in r.values())
    ]
    assert len(codes) >= MANIFEST["variants"]["materials"]["leading_zero"] * 0.9
    every = [v for s in MANIFEST["sources"] for r in staged(project, s) for v in r.values()]
    assert not any(isinstance(v, float) for v in every)  # text or NULL, never a float


def test_unchanged_rerun_is_a_no_op_and_check_is_clean(reference):
    project, first = reference
    again = extract(project)
    assert {s.status for s in again.sources} == {"unchanged"}
    assert [s.run_id for s in again.sources] == [first[s.source].run_id for s in again.sources]
    report = check_sources(project)
    assert report.ok and {s.state for s in report.sources} == {"ok"}
