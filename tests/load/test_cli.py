"""`migrate load` wiring: the per-entity table, nothing to do, JSON, exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from migrate import db
from migrate.cli.app import app
from migrate.db import make_engine
from migrate.urls import mask_url
from tests.load.mapped import make_store


def project(tmp_path: Path, target: str) -> Path:
    root = tmp_path / "proj"
    (root / ".migrate").mkdir(parents=True)
    (root / "project.yaml").write_text(
        "name: x\ntarget: sqlite:///.migrate/target.db\nstaging: sqlite:///.migrate/staging.db\n"
    )
    make_store(root / ".migrate" / "staging.db", 3_000)
    engine = make_engine(target)
    db.upgrade(engine)
    engine.dispose()
    return root


def run(root: Path, target: str, *args: str):
    return CliRunner().invoke(
        app, ["--project", str(root), "--target", target, *args], env={"COLUMNS": "200"}
    )


def test_load_prints_the_table_then_nothing_to_do(target_url, tmp_path):
    root = project(tmp_path, target_url)
    result = run(root, target_url, "--operator", "li.wei", "load", "--chunk-size", "1000")
    assert result.exit_code == 0, result.output
    assert "process_parameter" in result.stdout and "3,000" in result.stdout and "unchanged" in result.stdout
    again = run(root, target_url, "load", "--all", "--chunk-size", "1000")
    assert again.exit_code == 0 and "nothing to do" in again.stdout
    data = json.loads(run(root, target_url, "--json", "load", "material").stdout)
    assert data["ok"] and data["nothing_to_do"] and [e["entity"] for e in data["entities"]] == ["material"]


def test_unknown_mode_and_missing_schema_exit_2(tmp_path, sqlite_url):
    root = project(tmp_path, sqlite_url)
    bad = run(root, sqlite_url, "load", "--mode", "merge")
    assert bad.exit_code == 2 and "unknown load mode" in bad.output
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = run(root, empty, "load")
    assert result.exit_code == 2 and "migrate db upgrade" in result.output


def test_jobs_on_a_sqlite_target_exits_2(tmp_path, sqlite_url):
    root = project(tmp_path, sqlite_url)
    result = run(root, sqlite_url, "load", "--jobs", "2")
    assert result.exit_code == 2 and "needs a PostgreSQL target" in result.output


def test_load_jobs_from_project_yaml(target_url, tmp_path):
    """`defaults.load_jobs` is how many connections a load uses on PostgreSQL when --jobs is not
    given; a SQLite target loads on one instead of refusing; --jobs still decides."""
    root = project(tmp_path, target_url)
    (root / "project.yaml").write_text((root / "project.yaml").read_text() + "defaults:\n  load_jobs: 2\n")
    result = run(root, target_url, "--json", "load", "--chunk-size", "1000")
    assert result.exit_code == 0, result.output
    expected = 2 if target_url.startswith("postgresql") else 1
    assert {e["connections"] for e in json.loads(result.stdout)["entities"]} == {expected}
    again = run(root, target_url, "--json", "load", "--jobs", "1", "--restart")
    assert again.exit_code == 0, again.output
    assert {e["connections"] for e in json.loads(again.stdout)["entities"]} == {1}


def test_persistent_failure_through_the_real_command(sqlite_url, tmp_path):
    """`python -m migrate load` with the fault switch: exit 1, masked URL, last chunk, how to resume.
    (Wiring only: test_failures proves the behaviour on both backends.)"""
    target_url = sqlite_url
    root = project(tmp_path, target_url)
    env = {**os.environ, "MIGRATE_LOAD_FAULT": "lose_connection:1+:process_parameter"}
    env["COLUMNS"] = "200"
    argv = [sys.executable, "-m", "migrate", "--project", str(root), "--target", target_url]
    proc = subprocess.run(
        [*argv, "load", "--chunk-size", "1000"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stderr
    err = " ".join(proc.stderr.split())
    assert (
        mask_url(target_url) in err and "chunk 0" in err and "running the same command again: migrate" in err
    )
    assert "Traceback" not in proc.stderr
    env.pop("MIGRATE_LOAD_FAULT")
    resumed = subprocess.run(
        [*argv, "load", "--resume", "--chunk-size", "1000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at chunk 1" in resumed.stdout
