"""docs/ is generated from the code (python -m migrate.docs) and must equal what the code
generates now; every transform, model column, gate kind and command is in it; every link
into docs/guarantees.md from the README or the code lands on a heading."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml

from migrate.cli.app import app
from migrate.cli.lazy import all_commands
from migrate.docs import differences, generate
from migrate.docs.mapping_page import shipped_transforms, transform_doc
from migrate.docs.project_page import plan_example
from migrate.docs.specs import anchor
from migrate.mapping.spec import ColumnSpec
from migrate.mapping.transforms import TRANSFORMS, check_step
from migrate.model import ENTITIES, mapped_column_info
from migrate.phase import _gate_names, declared_gates
from migrate.project import PlanSpec

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return generate()


def test_committed_docs_equal_the_generated_ones(monkeypatch):
    monkeypatch.setenv("COLUMNS", "37")  # the terminal's width must not matter
    found = differences(DOCS)
    assert not found, "docs/ is out of date; run `make docs`:\n" + "\n".join(found)


def test_check_mode_exits_1_naming_the_stale_page(tmp_path):
    for name, text in generate().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "model.md").write_text("stale\n", encoding="utf-8")
    run = [sys.executable, "-m", "migrate.docs", "--check", "--out", str(tmp_path)]
    result = subprocess.run(run, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1 and "model.md" in result.stdout and "mapping.md" not in result.stdout


def test_every_registered_transform_of_the_toolkit_is_shipped():
    assert {t.name for t in shipped_transforms()} >= {"trim", "decimal", "value_map"}


@pytest.mark.parametrize("name", [t.name for t in shipped_transforms()])
def test_every_transform_is_documented_with_an_example_that_parses(pages, name):
    doc = transform_doc(TRANSFORMS[name])
    assert doc.description, f"{name}: the docstring's first paragraph says what it does"
    ((column, body),) = yaml.safe_load(doc.example).items()
    spec = ColumnSpec.model_validate(body)
    assert name in [s.name for s in spec.steps], f"{name}: its example uses another transform"
    for i, step in enumerate(spec.steps):
        check_step(step.name, step.args, "docstring", f"{name}.steps.{i}")
    assert f"### `{name}`" in pages["mapping.md"]
    assert doc.example in pages["mapping.md"]


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_every_model_column_is_documented(pages, entity):
    section = pages["model.md"].split(f"\n## {entity}\n", 1)[1].split("\n## ", 1)[0]
    for column in mapped_column_info(entity):
        assert f"| `{column.name}` | {column.type} |" in section
        for value, meaning in (column.allowed or {}).items():
            assert f"- `{value}`: {meaning}" in section


def test_every_gate_kind_is_documented_and_the_example_plan_is_valid(pages):
    plan = PlanSpec.model_validate(yaml.safe_load(plan_example()))
    declared = declared_gates(plan.phases[0], 0)
    names = _gate_names(plan.phases[0], 0)
    assert len(names) == 3 + len(declared) and declared
    for gate in [*names[:3], *(kind for kind, _ in declared)]:
        assert f"`{gate}" in pages["project.md"], gate


def test_every_command_is_in_the_reference(pages):
    for path, _ in all_commands(typer.main.get_command(app)):
        assert f"## `migrate {' '.join(path)}`" in pages["cli.md"]


def _headings(path: Path) -> set[str]:
    return {anchor(h) for h in re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)}


def test_links_into_the_docs_land_on_headings():
    texts = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "migrate").rglob("*.py"))]
    texts += sorted((ROOT / "tests").rglob("*.py"))
    linked = set()
    for path in texts:
        linked |= set(re.findall(r"docs/(\w+\.md)#([\w-]+)", path.read_text(encoding="utf-8")))
    assert ("guarantees.md", "exact-rollback") in linked
    for page, target in linked:
        if page == "model.md" and target in ENTITIES:
            continue  # skeletons link docs/model.md#<entity>: checked below
        assert target in _headings(DOCS / page), f"docs/{page}#{target} is no heading"
    assert set(ENTITIES) <= _headings(DOCS / "model.md")


def test_nothing_cites_the_design_document():
    """Users of the repository do not have DESIGN.md: every citation points into docs/."""
    texts = [ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "migrate").rglob("*.py"), *DOCS.glob("*.md")]
    cited = [str(p.relative_to(ROOT)) for p in texts if "DESIGN" in p.read_text(encoding="utf-8")]
    assert cited == []
