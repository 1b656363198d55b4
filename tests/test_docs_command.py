"""`migrate docs`: the reference pages read in the terminal, from the running version's code,
where a project made with an installed toolkit has no docs/ folder at hand."""

from __future__ import annotations

import io
import json
import re

import pytest
import yaml
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.cli.docs import _render
from migrate.docs import TOPICS, generate, reference
from migrate.docs.mapping_page import shipped_transforms
from migrate.model import ENTITIES, allowed_values, mapped_column_info
from migrate.scaffold import scaffold
from migrate.skeleton import SKELETONS_DIR

runner = CliRunner()


def test_piped_page_is_the_generated_markdown_without_its_banner():
    result = runner.invoke(app, ["docs", "model"])
    assert result.exit_code == 0, result.output
    generated = generate()["model.md"]
    assert result.stdout == generated[generated.index("# The unified model") :]


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_an_entity_section_holds_its_columns_and_allowed_values(entity):
    result = runner.invoke(app, ["docs", "model", entity])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"## {entity}\n")
    assert "\n## " not in result.stdout  # that entity alone
    for column in mapped_column_info(entity):
        assert f"`{column.name}`" in result.stdout
        for value in allowed_values(entity, column.name) or ():
            assert f"`{value}`" in result.stdout


@pytest.mark.parametrize("name", [t.name for t in shipped_transforms()])
def test_every_transform_has_its_section(name):
    found = reference("mapping", name)
    assert found.markdown.startswith(f"### `{name}`\n")
    (example,) = re.findall(r"```yaml\n(.*?)```", found.markdown, re.S)
    assert name in json.dumps(yaml.safe_load(example), ensure_ascii=False)


def test_a_section_is_found_by_one_dotted_part_of_its_key():
    assert reference("mapping", "lookup").markdown.startswith("### `columns.<column>.lookup`")
    joins = reference("mapping", "join").markdown
    assert "### `sources[].join[]`" in joins and "### `sources[].join[].valid`" not in joins


def test_examples_in_the_mapping_page_are_yaml_blocks_not_prose():
    page = generate()["mapping.md"]
    assert re.findall(r"^Example:\n(?!\n```yaml\n)", page, re.M) == []
    for block in re.findall(r"```yaml\n(.*?)```", page, re.S):
        assert yaml.safe_load(block) is not None


@pytest.mark.parametrize("args", [["docs", "nope"], ["docs", "mapping", "nope" * 200]])
def test_unknown_page_or_section_exits_2_saying_what_there_is(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "nope" * 20 not in result.output
    assert ("mapping, model, project, cli" in result.output) or ("trim" in result.output)


def test_listing_toc_and_json():
    listed = runner.invoke(app, ["--json", "docs"])
    assert [p["page"] for p in json.loads(listed.stdout)["pages"]] == list(TOPICS)
    toc = runner.invoke(app, ["docs", "model", "--toc"]).stdout.splitlines()
    assert toc[0] == "The unified model" and set(ENTITIES) <= set(toc)
    one = json.loads(runner.invoke(app, ["--json", "docs", "model", "lot_genealogy"]).stdout)
    assert one["page"] == "model" and one["markdown"].startswith("## lot_genealogy")


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_on_an_80_column_terminal_every_column_name_is_whole(entity):
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    _render(console, reference("model", entity).markdown)
    lines = out.getvalue().splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    shown = {word for line in lines for word in line.split()}
    assert {c.name for c in mapped_column_info(entity)} <= shown


def test_skeletons_point_at_the_docs_command(tmp_path):
    scaffold(tmp_path / "p")
    text = (tmp_path / "p" / SKELETONS_DIR / "supplier.yaml").read_text(encoding="utf-8")
    assert "`migrate docs model supplier`" in text and "`migrate docs mapping`" in text


@pytest.mark.parametrize("page", ["mapping.md", "project.md"])
def test_every_key_of_every_project_file_says_what_it_does(page):
    rows = [r for r in generate()[page].splitlines() if re.match(r"^\| `[\w.<>\[\]]+` \|", r)]
    assert len(rows) > 20
    silent = [r.split("|")[1].strip() for r in rows if r.rstrip().endswith("|  |")]
    assert silent == []


def test_people_yaml_is_documented_key_by_key():
    result = runner.invoke(app, ["docs", "project", "people"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("## `people.yaml`\n")
    for key in ("passphrase_env", "people", "name", "printed_name", "roles", "key"):
        assert f"| `{key}` |" in result.stdout
