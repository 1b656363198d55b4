"""A project just made by `migrate init`: every command a new user tries first says what to do
next (declare sources, write mappings, create the target's tables), never an internal error."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.scaffold import scaffold

runner = CliRunner()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    root = tmp_path_factory.mktemp("fresh") / "p"
    scaffold(root)
    return root


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["sources", "list"], "No sources are declared in project.yaml"),
        (["sources", "check"], "No sources are declared in project.yaml"),
        (["extract"], "No sources are declared in project.yaml"),
        (["map"], "No mapping files in mappings/"),
    ],
)
def test_nothing_declared_yet_says_what_to_write(fresh, command, says):
    result = runner.invoke(app, ["--project", str(fresh), *command])
    assert result.exit_code == 0, result.output
    assert says in result.stdout and "migrate docs" in result.stdout


@pytest.mark.parametrize(
    "command", [["reconcile"], ["phase", "status"], ["report", "--out", "s.html"], ["rollback", "points"]]
)
def test_before_db_upgrade_each_command_says_to_run_it(fresh, command):
    result = runner.invoke(app, ["--project", str(fresh), *command])
    assert result.exit_code == 2, result.output
    assert "Run `migrate db upgrade` first." in result.output.replace("\n", " ")
    assert "internal error" not in result.output and "Traceback" not in result.output
