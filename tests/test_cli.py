"""CLI wiring: help everywhere, --json, exit codes, one-paragraph errors, no secrets out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from migrate.cli.app import _hoist_global_flags, app
from migrate.cli.lazy import all_commands

runner = CliRunner()


def run(*args, env=None):
    return runner.invoke(app, list(_hoist_global_flags(list(args))), env={"COLUMNS": "120", **(env or {})})


ALL_COMMANDS = [path for path, _ in all_commands(typer.main.get_command(app))]


def test_top_level_help():
    result = run("--help")
    assert result.exit_code == 0
    assert "legacy data" in result.output


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=" ".join)
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    # the first line of the docstring is shown: every command says what it does
    assert "Usage:" in result.output
    assert len(result.output.split("Usage:")[1].splitlines()) > 2


def test_json_after_the_command(tmp_path):
    run("init", str(tmp_path / "p"))
    result = run("--project", str(tmp_path / "p"), "db", "upgrade", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["current"] == data["head"]


def test_bad_config_exits_2_with_located_message(tmp_path):
    (tmp_path / "project.yaml").write_text("name: x\nsources:\n  m:\n    kind: xlsx\n")
    result = run("--project", str(tmp_path), "db", "current")
    assert result.exit_code == 2
    assert "project.yaml, key sources.m: a xlsx source needs `path`" in result.stderr
    assert "Traceback" not in result.output


def test_json_error_is_parseable(tmp_path):
    result = run("--project", str(tmp_path), "--json", "db", "current")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False and "project.yaml does not exist" in data["message"]


def test_secrets_never_appear_in_output_of_a_failing_command(tmp_path):
    """A password and an sslpassword= query secret, in a URL that cannot connect."""
    password, query_secret = "Pw-4f9e2c-unique", "Qs-77a1b3-unique"
    url = f"postgresql+psycopg://erp:{password}@127.0.0.1:1/erp?sslpassword={query_secret}&connect_timeout=1"
    for args in (
        ["--target", url, "db", "upgrade"],
        ["--target", url, "--json", "db", "current"],
        ["--target", url, "--debug", "db", "current"],
    ):
        (tmp_path / "project.yaml").write_text("name: x\n")
        result = run("--project", str(tmp_path), *args)
        assert result.exit_code in (1, 2)
        assert password not in result.output and query_secret not in result.output
        assert "***" in result.output


def test_secret_from_env_interpolation_is_masked(tmp_path):
    password = "Env-9d8c7b-unique"
    (tmp_path / "project.yaml").write_text(
        "name: x\ntarget: postgresql+psycopg://erp:${ERP_PW}@127.0.0.1:1/erp\n"
    )
    result = run("--project", str(tmp_path), "db", "current", env={"ERP_PW": password})
    assert result.exit_code == 2
    assert password not in result.output


def test_python_dash_m_and_exit_code_for_unknown_command():
    out = subprocess.run([sys.executable, "-m", "migrate", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("migrate ")
    out = subprocess.run(
        [sys.executable, "-m", "migrate", "no-such-command"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert out.returncode == 2
