"""Mapping skeletons from the model: `migrate init` writes one per entity, `migrate new mapping`
one for a declared source with `from:` pre-filled where the names match."""

from __future__ import annotations

import re

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.mapping.spec import read_mapping, required_columns
from migrate.model import ENTITIES, allowed_values
from migrate.scaffold import scaffold
from migrate.skeleton import SKELETONS_DIR

runner = CliRunner()
# What a person uncomments: a commented key (`# name:`) or list item (`# - {...}`), not prose.
_COMMENTED_YAML = re.compile(r"^(\s*)# (?=\s*(?:[a-z_]+:|- ))")


def uncomment(text: str) -> str:
    return "\n".join(_COMMENTED_YAML.sub(r"\1", line) for line in text.splitlines()) + "\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("p") / "proj"
    scaffold(root)
    return root


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_init_skeleton_parses_when_uncommented(project, entity):
    text = (project / SKELETONS_DIR / f"{entity}.yaml").read_text(encoding="utf-8")
    target = project / "mappings" / f"{entity}.yaml"
    target.write_text(uncomment(text), encoding="utf-8")
    try:
        spec = read_mapping(target, project)
    finally:
        target.unlink()
    assert set(spec.columns) == set(ENTITIES[entity].mapped_columns)
    assert spec.filters and spec.rules  # the optional sections' examples parse too
    for column in required_columns(entity):
        assert re.search(rf"^#   {column}: .*# \S+, required", text, re.M), column
    for column in ENTITIES[entity].table.columns:
        allowed = allowed_values(entity, column.name)
        if allowed:
            assert f"one of: {', '.join(allowed)}" in text


def _source_workbook(path, header):
    wb = Workbook()
    ws = wb.active
    ws.title = "suppliers"
    ws.append(header)
    ws.append(["V001", "Acme", "CN", "ok", "x"])
    wb.save(path)


def _project_with_source(tmp_path, header):
    root = tmp_path / "proj"
    scaffold(root)
    (root / "legacy").mkdir()
    _source_workbook(root / "legacy" / "master.xlsx", header)
    text = (root / "project.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "sources: {}", "sources:\n  suppliers: {kind: xlsx, path: legacy/master.xlsx, sheet: suppliers}"
    )
    (root / "project.yaml").write_text(text, encoding="utf-8")
    return root


def test_new_mapping_prefills_matching_columns(tmp_path):
    hostile = "note\nentity: customer"  # a header with a line break must stay inside the comment
    root = _project_with_source(tmp_path, ["Supplier Code", " ＮＡＭＥ ", "country", "Status", hostile])
    result = runner.invoke(
        app, ["--project", str(root), "new", "mapping", "supplier", "--source", "suppliers"]
    )
    assert result.exit_code == 0, result.output
    text = (root / "mappings" / "supplier.yaml").read_text(encoding="utf-8")
    assert '  supplier_code: {from: "Supplier Code", steps: [trim]}' in text
    assert "  # qualification_status:" in text  # no source column matches: left to fill in
    assert '"note\\nentity: customer"' in text  # listed, escaped
    # the written file is a mapping as it stands once its one unmatched column is filled in
    text = text.replace('  # qualification_status: {from: "?"', "  qualification_status: {from: Status")
    (root / "mappings" / "supplier.yaml").write_text(text, encoding="utf-8")
    spec = read_mapping(root / "mappings" / "supplier.yaml", root)
    assert {c: s.from_ for c, s in spec.columns.items()} == {
        "supplier_code": "Supplier Code",
        "name": " ＮＡＭＥ ",
        "country": "country",
        "qualification_status": "Status",
    }


def test_new_mapping_never_overwrites_unasked(tmp_path):
    root = _project_with_source(tmp_path, ["Supplier Code", "Name", "Country", "Status", "x"])
    args = ["--project", str(root), "new", "mapping", "supplier", "--source", "suppliers"]
    assert runner.invoke(app, args).exit_code == 0
    (root / "mappings" / "supplier.yaml").write_text("# mine\n", encoding="utf-8")
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "already exists" in refused.stderr
    assert (root / "mappings" / "supplier.yaml").read_text(encoding="utf-8") == "# mine\n"
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_new_mapping_names_an_undeclared_source(tmp_path):
    root = _project_with_source(tmp_path, ["a", "b", "c", "d", "e"])
    result = runner.invoke(app, ["--project", str(root), "new", "mapping", "supplier", "--source", "nope"])
    assert result.exit_code == 2 and "no source 'nope'" in result.stderr
