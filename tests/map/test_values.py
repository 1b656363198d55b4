"""Value maps and the consultant's loop: export unmapped values, fill, import, map again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.errors import ConfigError
from migrate.mapping import map_entities
from migrate.mapping.engine import export_values, import_values
from migrate.project import Project
from tests.map import scenario
from tests.map.helpers import write_mapping, write_values

DATA = Path(__file__).parent / "data"
FILLED = {"神秘": "finished", "007": "packaging", "=SUM(A1)": "semi"}


def material(result):
    return next(e for e in result.entities if e.entity == "material")


def exported_rows(path: Path) -> list[tuple]:
    sheet = load_workbook(path)["unmapped"]
    return [tuple(c.value for c in row) for row in sheet.iter_rows(min_row=2)]


def test_export_lists_unmapped_values_formula_safe(tmp_path):
    project = Project(scenario.build(tmp_path / "p"))
    result = export_values(project, tmp_path / "unmapped.xlsx")
    assert result.values == 3 and result.by_value_map == {"material_type": 3}
    rows = exported_rows(tmp_path / "unmapped.xlsx")
    assert {r[1] for r in rows} == set(FILLED)
    assert all(r[0] == "material_type" and r[2] is None and r[3] == 1 for r in rows)
    assert any("mat.csv, row 11" in r[4] for r in rows)  # sample lineage
    cell = next(
        c for c in load_workbook(tmp_path / "unmapped.xlsx")["unmapped"]["B"] if c.value == "=SUM(A1)"
    )
    assert cell.data_type == "s"  # text, not a live formula


def test_export_offers_the_allowed_codes_as_a_drop_down(tmp_path):
    """The codes import would accept (the model's enumeration of material_type) are a list
    validation on each unified_value cell: a consultant picks one instead of typing it."""
    project = Project(scenario.build(tmp_path / "p"))
    export_values(project, tmp_path / "unmapped.xlsx")
    book = load_workbook(tmp_path / "unmapped.xlsx")
    (rule,) = book["unmapped"].data_validations.dataValidation
    assert rule.type == "list" and rule.showErrorMessage
    assert str(rule.sqref) == " ".join(f"C{r}" for r in range(2, 5))
    sheet, cells = rule.formula1.split("!")
    codes = [c.value for row in book[sheet.strip("'")][cells.replace("$", "")] for c in row]
    assert codes == ["raw", "semi", "finished", "packaging"]
    assert import_values(project, fill(tmp_path / "unmapped.xlsx", tmp_path / "f.xlsx")).added


def fill(path: Path, out: Path) -> Path:
    book = load_workbook(path)
    for row in book["unmapped"].iter_rows(min_row=2):
        row[2].value = FILLED[row[1].value]
    book.save(out)
    return out


@pytest.mark.parametrize("how", ["openpyxl", "libreoffice"])
def test_export_fill_import_map_again(tmp_path, how):
    project = Project(scenario.build(tmp_path / "p"))
    before = material(map_entities(project, ["material"]))
    assert before.rejected_by_reason["unknown_value"] == 3
    export_values(project, tmp_path / "unmapped.xlsx")
    if how == "openpyxl":
        filled = fill(tmp_path / "unmapped.xlsx", tmp_path / "filled.xlsx")
    else:  # the same fill, re-saved by LibreOffice Calc (see data/make_values_fixture.py)
        filled = shutil.copy(DATA / "values_filled_libreoffice.xlsx", tmp_path / "filled.xlsx")
    result = import_values(project, Path(filled))
    assert result.added == {"material_type": 3}
    entries = yaml.safe_load((project.root / "mappings/values/material_type.yaml").read_text("utf-8"))[
        "entries"
    ]
    assert {k: entries[k] for k in FILLED} == FILLED  # '007' kept as text, '=SUM(A1)' as text
    after = material(map_entities(project, ["material"]))
    assert "unknown_value" not in after.rejected_by_reason
    assert after.mapped == before.mapped + 3 and not after.unmapped
    assert import_values(project, Path(filled)).added == {}  # importing twice changes nothing


def test_import_refuses_unknown_map_and_code_before_writing(tmp_path):
    project = Project(scenario.build(tmp_path / "p"))
    export_values(project, tmp_path / "unmapped.xlsx")
    book = load_workbook(tmp_path / "unmapped.xlsx")
    sheet = book["unmapped"]
    sheet["C2"] = "finished"
    sheet["C3"] = "liquid"  # not an allowed material type
    book.save(tmp_path / "bad.xlsx")
    original = (project.root / "mappings/values/material_type.yaml").read_text("utf-8")
    with pytest.raises(ConfigError) as caught:
        import_values(project, tmp_path / "bad.xlsx")
    assert (caught.value.sheet, caught.value.row, caught.value.column) == ("unmapped", 3, "unified_value")
    assert (project.root / "mappings/values/material_type.yaml").read_text("utf-8") == original
    sheet["C3"] = None
    sheet["A2"] = "colours"
    book.save(tmp_path / "bad2.xlsx")
    with pytest.raises(ConfigError, match="unknown value map 'colours'"):
        import_values(project, tmp_path / "bad2.xlsx")


def test_value_map_kept_in_excel(tmp_path):
    """A consultant's xlsx value map (sheets `map` and `options`) works like the YAML one."""
    project = Project(scenario.build(tmp_path / "p"))
    (project.root / "mappings/values/material_type.yaml").unlink()
    book = Workbook()
    sheet = book.active
    sheet.title = "map"
    for row in (("legacy", "unified"), ("原料", "raw"), ("成品", "finished"), ("神秘", "semi")):
        sheet.append(row)
    options = book.create_sheet("options")
    for row in (("key", "value"), ("strict", True)):
        options.append(row)
    book.save(project.root / "mappings/values/material_type.xlsx")
    result = material(map_entities(project, ["material"]))
    assert result.rejected_by_reason["unknown_value"] == 2  # 007 and =SUM(A1) remain
    export_values(project, tmp_path / "unmapped.xlsx")
    import_values(project, fill(tmp_path / "unmapped.xlsx", tmp_path / "filled.xlsx"))
    assert "unknown_value" not in material(map_entities(project, ["material"])).rejected_by_reason


def test_not_strict_keeps_or_defaults(tmp_path):
    project = Project(scenario.build(tmp_path / "p"))
    path = project.root / "mappings/values/material_type.yaml"
    spec = yaml.safe_load(path.read_text("utf-8")) | {"strict": False, "default": "raw"}
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    result = material(map_entities(project, ["material"]))
    assert "unknown_value" not in result.rejected_by_reason
    # the declared default is a decision: reported as defaulted, not as unknown codes
    assert result.unmapped == ()
    assert {(u.value_map, u.value, u.count) for u in result.defaulted} == {
        ("material_type", "神秘", 1),
        ("material_type", "007", 1),
        ("material_type", "=SUM(A1)", 1),
    }
    assert all(u.samples for u in result.defaulted)


def test_not_strict_without_default_keeps_and_reports_unknown(tmp_path):
    project = Project(scenario.build(tmp_path / "p"))
    path = project.root / "mappings/values/material_type.yaml"
    spec = yaml.safe_load(path.read_text("utf-8")) | {"strict": False}
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    result = material(map_entities(project, ["material"]))
    assert sum(u.count for u in result.unmapped) == 3 and result.defaulted == ()


def test_values_export_lists_only_real_unknowns(tmp_path):
    """Two maps, one defaulting: the export lists the codes of the strict one only."""
    project = Project(scenario.build(tmp_path / "p"))
    write_values(project.root, "uom", {"strict": False, "default": "pcs", "entries": {"kg": "kg"}})
    mapping = yaml.safe_load((project.root / "mappings/material.yaml").read_text("utf-8"))
    mapping["columns"]["base_uom"] = {"from": "单位", "steps": [{"value_map": "uom"}]}
    write_mapping(project.root, "material", mapping)
    out = tmp_path / "unmapped.xlsx"
    result = export_values(project, out, ("material",))
    rows = list(load_workbook(out)["unmapped"].iter_rows(values_only=True))[1:]
    assert {r[0] for r in rows} == {"material_type"} and result.by_value_map == {"material_type": 3}
    simulated = material(map_entities(project, ["material"], simulate=True))
    assert {(u.value_map, u.value) for u in simulated.defaulted} == {("uom", "pcs")}


def test_quarantine_workbook_is_formula_safe(tmp_path):
    project = scenario.build(tmp_path / "p")
    out = tmp_path / "rejects.xlsx"
    result = CliRunner().invoke(
        app, ["--project", str(project), "--json", "map", "--simulate", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["quarantine"] == str(out)
    book = load_workbook(out)
    assert book.sheetnames == ["material", "material_lot"]
    rows = list(book["material"].iter_rows(values_only=True))
    assert rows[0][:10] == (
        "material_code",
        "reason",
        "message",
        "all reasons",
        "column",
        "value",
        "source",
        "file",
        "sheet",
        "row",
    )
    assert len(rows) - 1 == 7
    cells = [c for row in book["material"].iter_rows() for c in row if c.value == "=SUM(A1)"]
    assert cells and all(c.data_type == "s" for c in cells)
    negative = [c for row in book["material_lot"].iter_rows() for c in row if c.value == "-1.000000"]
    assert negative and all(c.data_type == "s" for c in negative)


def test_values_cli(tmp_path):
    project = scenario.build(tmp_path / "p")
    out = tmp_path / "u.xlsx"
    runner = CliRunner()
    result = runner.invoke(app, ["--project", str(project), "--json", "values", "export", "--out", str(out)])
    assert result.exit_code == 0 and json.loads(result.stdout)["values"] == 3
    fill(out, tmp_path / "f.xlsx")
    result = runner.invoke(
        app, ["--project", str(project), "--json", "values", "import", str(tmp_path / "f.xlsx")]
    )
    assert result.exit_code == 0 and json.loads(result.stdout)["added"] == {"material_type": 3}
    result = runner.invoke(
        app, ["--project", str(project), "values", "import", str(tmp_path / "missing.xlsx")]
    )
    assert result.exit_code == 2
