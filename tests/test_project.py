"""Project files: parsed, validated, and every error names the file and key path."""

from __future__ import annotations

import pytest

from migrate.errors import ConfigError
from migrate.project import Project
from migrate.scaffold import scaffold


def write(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_scaffolded_project_parses(tmp_path):
    scaffold(tmp_path / "p")
    project = Project(tmp_path / "p")
    assert project.spec.name == "p"
    assert [p.name for p in project.plan.phases][0] == "master-data"
    assert project.entities(phase="master-data") == ("supplier", "customer", "material", "equipment")
    assert str(project.target_url).endswith("/p/.migrate/target.db")


def test_scaffold_refuses_to_overwrite(tmp_path):
    scaffold(tmp_path)
    with pytest.raises(ConfigError, match="already exists"):
        scaffold(tmp_path)


@pytest.mark.parametrize(
    ("yaml_text", "key", "words"),
    [
        ("name: x\nsources:\n  m:\n    kind: xlsx\n", "sources.m", "needs `path`"),
        ("name: x\nsources:\n  m:\n    kind: parquet\n    path: a\n", "sources.m.kind", "'xlsx'"),
        ("name: x\nsources:\n  Bad-Name:\n    kind: csv\n    path: a\n", "sources.Bad-Name.[key]", "pattern"),
        ("name: x\ntypo: 1\n", "typo", "unknown key 'typo'; the keys allowed here: defaults, description"),
        ("name: x\nsources:\n  m:\n    kind: csv\n    paht: a\n", "sources.m.paht", "(did you mean 'path'?)"),
        ("name: x\ndefault:\n  chunk_size: 5\n", "default", "(did you mean 'defaults'?)"),
        ("name: x\nsources:\n  d:\n    kind: sql\n    url: sqlite://\n", "sources.d", "exactly one of"),
        ("name: x\ndefaults:\n  chunk_size: 0\n", "defaults.chunk_size", "greater than 0"),
    ],
)
def test_project_errors_name_file_and_key(tmp_path, yaml_text, key, words):
    write(tmp_path, "project.yaml", yaml_text)
    with pytest.raises(ConfigError) as info:
        Project(tmp_path).spec
    assert info.value.file == "project.yaml"
    assert info.value.key == key
    assert words in info.value.message


def test_yaml_syntax_error_names_line(tmp_path):
    write(tmp_path, "project.yaml", "name: x\nsources: [\n")
    with pytest.raises(ConfigError, match=r"project.yaml is not valid YAML at line \d+"):
        Project(tmp_path).spec


def test_env_interpolation_and_missing_variable(tmp_path, monkeypatch):
    write(tmp_path, "project.yaml", "name: x\ntarget: postgresql://u:${PW_FOR_TEST}@h/db\n")
    monkeypatch.setenv("PW_FOR_TEST", "s3cr3t-value")
    assert Project(tmp_path).target_url.password == "s3cr3t-value"
    monkeypatch.delenv("PW_FOR_TEST")
    with pytest.raises(ConfigError) as info:
        Project(tmp_path).spec
    assert info.value.key == "target" and "PW_FOR_TEST is not set" in info.value.message


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        ("phases:\n  - name: a\n    entities: [widget]\n", "unknown entity 'widget'"),
        ("phases:\n  - name: a\n    entities: [material_lot]\n", "references 'material'"),
        ("phases:\n  - name: a\n    entities: [material]\n  - name: a\n    entities: [supplier]\n", "twice"),
        ("phases:\n  - name: a\n    entities: [material]\n    depends_on: [b]\n", "not an earlier phase"),
    ],
)
def test_plan_errors(tmp_path, plan, words):
    write(tmp_path, "project.yaml", "name: x\n")
    write(tmp_path, "phases/plan.yaml", plan)
    with pytest.raises(ConfigError) as info:
        Project(tmp_path).plan
    assert info.value.file == "phases/plan.yaml"
    assert words in info.value.message


def test_unknown_phase_and_entity(tmp_path):
    scaffold(tmp_path)
    with pytest.raises(ConfigError, match="no phase 'nope'"):
        Project(tmp_path).entities(phase="nope")
    with pytest.raises(ConfigError, match="unknown entity 'widget'"):
        Project(tmp_path).entities(["widget"])


def test_an_unknown_key_is_named_with_the_allowed_ones_and_never_echoed_whole(tmp_path):
    write(tmp_path, "project.yaml", "name: x\n" + "k" * 1000 + ": 1\n")
    with pytest.raises(ConfigError) as info:
        Project(tmp_path).spec
    assert "unknown key 'kkk" in info.value.message and len(info.value.message) < 600
