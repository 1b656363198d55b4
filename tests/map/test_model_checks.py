"""Map refuses what the target would refuse (enumerations, lengths), and `values import`
refuses a unified code the model does not allow, before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from openpyxl import load_workbook
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.mapping import map_entities
from migrate.mapping.constraints import allowed_values
from migrate.model import MATERIAL_TYPE
from migrate.project import Project
from tests.map import scenario
from tests.map.helpers import write_values

ALLOWED = ", ".join(MATERIAL_TYPE)


def _without_allowed(root: Path, entries: dict) -> None:
    """The value map itself does not list its allowed codes: only the model knows them."""
    write_values(root, "material_type", {"strict": True, "entries": entries})


def test_model_enumerations_come_from_the_model():
    assert allowed_values("material")["material_type"] == MATERIAL_TYPE
    assert "disposition" in allowed_values("quality_inspection")
    assert allowed_values("customer") == {}


def test_map_simulate_rejects_a_code_outside_the_model(tmp_path):
    root = scenario.build(tmp_path / "p")
    _without_allowed(root, {"原料": "raw", "成品": "finished", "神秘": "liquid"})
    result = CliRunner().invoke(app, ["--project", str(root), "--json", "map", "--simulate", "material"])
    assert result.exit_code == 0, result.output
    material = json.loads(result.stdout)["entities"]["material"]
    assert material["rejected_by_reason"]["not_allowed"] == 1
    assert material["examples"]["not_allowed"] == f"material_type 'liquid' is not allowed; allowed: {ALLOWED}"
    human = CliRunner().invoke(app, ["--project", str(root), "map", "--simulate", "material"])
    assert f"rejected not_allowed: 1 (e.g. material_type 'liquid' is not allowed; allowed: {ALLOWED})" in (
        human.stdout
    )


def test_map_rejects_text_longer_than_the_model_allows(tmp_path):
    root = scenario.build(tmp_path / "p")
    path = root / "mappings/material.yaml"
    spec = yaml.safe_load(path.read_text("utf-8"))
    spec["columns"]["base_uom"] = {"const": "x" * 11}  # base_uom is String(10)
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    material = map_entities(Project(root), ["material"], simulate=True).entities[0]
    assert material.mapped == 0 and material.rejected_by_reason.get("too_long") == 4
    assert material.examples["too_long"] == "base_uom is longer than the model's 10 characters"


def test_values_import_refuses_a_code_outside_the_model(tmp_path):
    root = scenario.build(tmp_path / "p")
    _without_allowed(root, {"原料": "raw", "成品": "finished"})
    runner = CliRunner()
    out = tmp_path / "unmapped.xlsx"
    assert runner.invoke(app, ["--project", str(root), "values", "export", "--out", str(out)]).exit_code == 0
    book = load_workbook(out)
    sheet = book["unmapped"]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[1].value == "神秘")
    row[2].value = "liquid"
    book.save(out)
    before = (root / "mappings/values/material_type.yaml").read_bytes()
    result = runner.invoke(app, ["--project", str(root), "values", "import", str(out)])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "unmapped.xlsx" in message and f"row {row[0].row}" in message
    assert "'神秘' -> 'liquid' is not allowed for material.material_type" in message
    assert f"allowed: {ALLOWED}" in message
    assert (root / "mappings/values/material_type.yaml").read_bytes() == before


def test_values_import_keeps_comments_and_order(tmp_path):
    root = scenario.build(tmp_path / "p")
    path = root / "mappings/values/material_type.yaml"
    original = (
        "# material types of the old ERP, kept by the consultant\n"
        "description: material type   # shown in the docs\n"
        "strict: true\n"
        "allowed:\n"
        "  - raw\n  - semi\n  - finished\n  - packaging\n"
        "entries:\n"
        "  # the two everybody knows\n"
        "  原料: raw   # 原料 = raw material\n"
        "  成品: finished\n"
    )
    path.write_text(original, encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "unmapped.xlsx"
    runner.invoke(app, ["--project", str(root), "values", "export", "--out", str(out)])
    book = load_workbook(out)
    for row in book["unmapped"].iter_rows(min_row=2):
        row[2].value = {"神秘": "semi", "007": "packaging", "=SUM(A1)": "raw"}[row[1].value]
    book.save(out)
    result = runner.invoke(app, ["--project", str(root), "values", "import", str(out)])
    assert result.exit_code == 0, result.output
    text = path.read_text("utf-8")
    assert text.startswith(original)  # every comment, key and layout kept; new codes appended
    added = yaml.safe_load(text)["entries"]
    assert list(added)[:2] == ["原料", "成品"] and set(list(added)[2:]) == {"神秘", "007", "=SUM(A1)"}
