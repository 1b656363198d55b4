"""Mapping-file errors exit 2 naming the file and key; identifiers are checked; code is never run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.errors import ConfigError
from migrate.mapping import map_entities
from migrate.project import Project
from tests.map import scenario
from tests.map.helpers import write_mapping

INJECTION = 'x"; DROP TABLE supplier; --'


def mapping_with(**change) -> dict:
    return scenario.MATERIAL_MAPPING | change


def columns_with(**change) -> dict:
    return mapping_with(columns=scenario.MATERIAL_MAPPING["columns"] | change)


CASES = [
    ("unknown target column", columns_with(colour={"from": "名称"}), "columns.colour", "no column"),
    (
        "injected identifier",
        columns_with(**{INJECTION: {"from": "名称"}}),
        f"columns.{INJECTION}",
        "no column",
    ),
    (
        "injected rule column",
        mapping_with(rules=[{"not_null": [INJECTION]}]),
        "rules.0.not_null",
        "no column",
    ),
    (
        "unknown transform",
        columns_with(name={"from": "名称", "steps": ["shout"]}),
        "columns.name.steps.0",
        "unknown transform 'shout'",
    ),
    (
        "python code as a step",
        columns_with(name={"from": "名称", "steps": ["__import__('os').system('touch PWNED')"]}),
        "columns.name.steps.0",
        "unknown transform",
    ),
    (
        "bad transform arguments",
        columns_with(name={"from": "名称", "steps": [{"zero_pad": {"widht": 6}}]}),
        "columns.name.steps.0",
        "unexpected keyword",
    ),
    (
        "unknown value map",
        columns_with(material_type={"from": "类型", "steps": [{"value_map": "colours"}]}),
        "columns.material_type.steps.0",
        "unknown value map 'colours'",
    ),
    (
        "mandatory column unmapped",
        mapping_with(columns={k: v for k, v in scenario.MATERIAL_MAPPING["columns"].items() if k != "name"}),
        "columns",
        "material.name is mandatory",
    ),
    ("undeclared source", mapping_with(sources=["nowhere"]), "sources.0", "not declared"),
    (
        "unknown duplicate policy",
        mapping_with(duplicates={"policy": "merge"}),
        "duplicates.policy",
        "reject_all",
    ),
    (
        "bad reason code",
        mapping_with(rules=[{"range": {"column": "shelf_life_days", "min": 0}, "reason": "meh"}]),
        "rules.0.reason",
        "",
    ),
    (
        "derived boolean on a text column",
        columns_with(name={"within": {"value": "shelf_life_days", "min": "shelf_life_days"}}),
        "columns.name",
        "not a boolean column",
    ),
    (
        "derived column with steps",
        columns_with(name={"within": {"value": "x", "max": "y"}, "steps": ["trim"]}),
        "columns.name",
        "takes no steps",
    ),
    (
        "missing staged column",
        columns_with(name={"from": "不存在的列"}),
        "columns.name.from",
        "has no column '不存在的列'",
    ),
]


@pytest.mark.parametrize(("label", "mapping", "key", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_mapping_names_file_and_key(tmp_path, label, mapping, key, words):
    project = Project(scenario.build(tmp_path))
    write_mapping(tmp_path, "material", mapping)
    with pytest.raises(ConfigError) as caught:
        map_entities(project, ["material"])
    assert caught.value.file == "mappings/material.yaml"
    assert caught.value.key == key
    assert words in caught.value.message
    assert not (tmp_path / "PWNED").exists()


def test_cli_exit_2_with_one_paragraph(tmp_path):
    scenario.build(tmp_path)
    write_mapping(tmp_path, "material", columns_with(**{INJECTION: {"from": "名称"}}))
    result = CliRunner().invoke(app, ["--project", str(tmp_path), "--json", "map", "--simulate"])
    assert result.exit_code == 2
    payload = json.loads(result.stdout.splitlines()[0])
    assert payload["ok"] is False and payload["file"] == "mappings/material.yaml"
    assert "Traceback" not in result.output


def test_code_in_a_value_is_just_data(tmp_path):
    """A constant or a value-map entry that looks like code is copied as text, never evaluated."""
    project = Project(scenario.build(tmp_path))
    code = "__import__('os').system('touch PWNED')"
    write_mapping(tmp_path, "material", columns_with(spec={"const": code}))
    map_entities(project, ["material"])
    from tests.map.test_engine import table

    assert set(table(project, "map_material")["spec"]) == {code}
    assert not (tmp_path / "PWNED").exists()


def test_entity_and_file_name_must_agree(tmp_path):
    project = Project(scenario.build(tmp_path))
    write_mapping(tmp_path, "material", mapping_with(entity="supplier"))
    with pytest.raises(ConfigError, match="named material.yaml"):
        map_entities(project, ["material"])


def test_yaml_syntax_error_names_the_line(tmp_path):
    project = Project(scenario.build(tmp_path))
    write_mapping(tmp_path, "material", "entity: material\ncolumns: [unclosed\n")
    with pytest.raises(ConfigError, match="line"):
        map_entities(project, ["material"])


def test_project_transform_by_import_path(tmp_path):
    """A project registers its own transform by import path; mappings refer to it by name."""
    scenario.build(tmp_path)
    (tmp_path / "factory_rules.py").write_text(
        "from migrate.mapping.transforms import transform\n\n"
        "@transform('strip_prefix')\n"
        "def strip_prefix(values, value='X-'):\n"
        "    return values.str.removeprefix(value)\n",
        encoding="utf-8",
    )
    from tests.map.helpers import write_project

    write_project(tmp_path, {"mat": [], "lots": []}, transforms=["factory_rules"])
    write_mapping(
        tmp_path, "material", columns_with(name={"from": "名称", "steps": [{"strip_prefix": "重复"}]})
    )
    map_entities(Project(tmp_path), ["material"])
    from tests.map.test_engine import table

    assert "A" not in set(
        table(Project(tmp_path), "map_material")["name"]
    )  # "重复A" rejected as a duplicate pair
    assert set(table(Project(tmp_path), "map_material")["name"]) == {"钢板", "螺丝"}


def test_unknown_project_transform_module(tmp_path):
    from tests.map.helpers import write_project

    scenario.build(tmp_path)
    write_project(tmp_path, {"mat": [], "lots": []}, transforms=["no_such_module"])
    with pytest.raises(ConfigError) as caught:
        map_entities(Project(tmp_path), ["material"])
    assert caught.value.key == "transforms.0"
