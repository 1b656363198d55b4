"""Nothing destroyed by surprise (DESIGN §6.12): demo folders, rollback run, db downgrade,
and approving a phase whose point would hold later phases' rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from migrate import db
from migrate.cli.app import app
from migrate.db import make_engine
from migrate.demo import DEMO_MARK, prepare, refuse_foreign_folder
from migrate.errors import ConfigError
from migrate.project import Project
from tests.cli.terminal import run_in_terminal
from tests.load.conftest import hashes


def run(root: Path, *args: str):
    return CliRunner().invoke(
        app, ["--project", str(root), "--operator", "qa", *args], env={"COLUMNS": "200"}
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} | {
        str(p.relative_to(folder)) + "/": b"" for p in folder.rglob("*") if p.is_dir()
    }


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    folder = tmp_path / "thesis"
    (folder / "chapters").mkdir(parents=True)
    (folder / "chapters" / "one.md").write_text("six months of work\n")
    (folder / "project.yaml").write_text("name: mine\n")  # a project.yaml alone is not a demo
    before = snapshot(folder)
    result = CliRunner().invoke(app, ["demo", "--dir", str(folder), "--rows", "50"])
    assert result.exit_code == 2
    assert "is not empty and is not an earlier demo" in " ".join(result.stderr.split())
    assert snapshot(folder) == before


def test_demo_takes_an_empty_folder_or_an_earlier_demo(tmp_path):
    refuse_foreign_folder(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    refuse_foreign_folder(tmp_path / "empty")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "project.yaml").write_text("name: demo\n")
    with pytest.raises(ConfigError):
        refuse_foreign_folder(earlier)
    (earlier / DEMO_MARK).write_text("")
    refuse_foreign_folder(earlier)


@pytest.fixture(scope="module")
def later_loaded(tmp_path_factory) -> Path:
    """master-data and open-inventory run, neither approved."""
    root = tmp_path_factory.mktemp("guards") / "project"
    prepare(root, rows=300)
    engine = make_engine(Project(root).target_url)
    db.upgrade(engine)
    engine.dispose()
    for phase in ("master-data", "open-inventory"):
        assert run(root, "phase", "run", phase).exit_code == 0
    return root


def test_approve_refuses_when_later_phases_were_loaded_after_its_predecessors(later_loaded):
    root = later_loaded
    before = hashes(str(Project(root).target_url))
    result = run(root, "phase", "approve", "master-data")
    message = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "phase master-data cannot be approved" in message
    assert "inventory_movement (phase open-inventory), material_lot (phase open-inventory)" in message
    assert "migrate rollback run --to start" in message
    assert hashes(str(Project(root).target_url)) == before
    points = run(root, "--json", "rollback", "points")
    assert '"master-data"' not in points.stdout


def test_rollback_and_downgrade_need_a_confirmation(later_loaded):
    root = later_loaded
    url = str(Project(root).target_url)
    before = hashes(url)
    for args in (("rollback", "run", "--to", "start"), ("--json", "rollback", "run", "--to", "start")):
        refused = run(root, *args)
        assert refused.exit_code == 2 and "add --yes" in refused.output
    assert hashes(url) == before
    kept = run(root, "db", "downgrade", "base")
    assert kept.exit_code == 2 and "holds loaded data or an audit log (supplier" in " ".join(
        kept.output.split()
    )
    unconfirmed = run(root, "db", "downgrade", "base", "--force")
    assert unconfirmed.exit_code == 2 and "add --yes" in unconfirmed.output
    assert hashes(url) == before and "revision 000" in run(root, "db", "current").stdout


def _answer(args: list[str], answer: str, cwd: Path) -> tuple[int, str]:
    return run_in_terminal(args, cwd=cwd, columns=100, answer=answer, timeout=60)


def test_rollback_on_a_terminal_shows_the_plan_and_asks(later_loaded):
    root = later_loaded
    url = str(Project(root).target_url)
    before = hashes(url)
    code, screen = _answer(["--project", str(root), "rollback", "run", "--to", "start"], "n", root)
    assert code == 1 and "undo material_lot" in screen and "Roll the target back to start?" in screen, screen
    assert "nothing done" in screen and hashes(url) == before
    code, screen = _answer(["--project", str(root), "rollback", "run", "--to", "start"], "y", root)
    assert code == 0 and "back at start" in screen, screen
    assert hashes(url) != before
    # an audit log remains after the rollback: a downgrade is still refused without --force
    assert run(root, "db", "downgrade", "base", "--yes").exit_code == 2
    done = run(root, "db", "downgrade", "base", "--yes", "--force")
    assert done.exit_code == 0 and "-> none (base)" in done.stdout
