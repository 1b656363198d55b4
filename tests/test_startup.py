"""Start-up: `migrate --version` and `--help` import no command module; completion is typer's own."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from migrate.cli.app import COMMANDS, app
from migrate.cli.lazy import build_command

ROOT = Path(__file__).resolve().parent.parent  # the reference project
HEAVY = ("pandas", "pyarrow", "sqlalchemy", "openpyxl", "rich", "migrate.demo", "migrate.factory")


def _imported_after(code: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    return [m for m in modules if m.split(".")[0] in heavy or m.startswith(heavy)]


def test_importing_the_app_imports_no_heavy_module():
    assert _imported_after("import migrate.cli.app") == []


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_import_no_heavy_module(argv):
    code = f"import sys\nsys.argv = ['migrate', *{argv!r}]\nfrom migrate.cli.app import main\ntry:\n    main()\nexcept SystemExit:\n    pass"
    assert _imported_after(code) == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_registered_help_is_the_commands_own(name):
    """`migrate --help` lists the registry's help without importing: it must say what the command says."""
    command = build_command(name, COMMANDS[name])
    assert COMMANDS[name].help == command.get_short_help_str(10_000)


def test_every_registered_command_runs_its_help():
    group = typer.main.get_command(app)
    for name in COMMANDS:
        assert group.get_command(None, name) is not None, name


def test_completion_lists_commands_and_subcommands():
    env = {**os.environ, "_MIGRATE_COMPLETE": "complete_bash", "COMP_WORDS": "migrate ro", "COMP_CWORD": "1"}
    top = subprocess.run([sys.executable, "-m", "migrate"], env=env, capture_output=True, text=True)
    assert top.stdout.split() == ["rollback"], top.stderr
    env |= {"COMP_WORDS": "migrate rollback re", "COMP_CWORD": "2"}
    sub = subprocess.run([sys.executable, "-m", "migrate"], env=env, capture_output=True, text=True)
    assert sorted(sub.stdout.split()) == ["readiness", "rehearse"], sub.stderr


def test_show_completion_prints_a_script():
    # From a bash, as a user types it: typer asks shellingham for the calling shell, which a
    # process started without a shell above it (a detached test run) does not have. The
    # `; exit $?` keeps bash from exec'ing the command, so bash stays its parent.
    out = subprocess.run(
        ["bash", "-c", f"{shlex.quote(sys.executable)} -m migrate --show-completion bash; exit $?"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "_migrate_completion" in out.stdout, out.stderr


def test_a_mistyped_command_gets_a_suggestion():
    out = subprocess.run([sys.executable, "-m", "migrate", "lod"], capture_output=True, text=True)
    assert out.returncode == 2 and "Did you mean 'load'?" in out.stderr, out.stderr


def test_extract_and_map_start_without_alembic():
    """alembic (with mako and pygments) is only for commands that read or change the schema's
    revision; extract and map open engines but never do."""
    code = "import migrate.cli.extract, migrate.cli.map, migrate.extract, migrate.db"
    probe = f"import sys\n{code}\nprint('alembic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# What a command imports before it does anything, beyond what it needs: each costs 0.2-0.7 s of
# CPU per command (deepdiff 0.7 s with polars, pandas 0.5, openpyxl 0.25, psycopg 0.2), and a
# cutover runs ~20 commands. They are imported where they are used.
DATA_LIBRARIES = ("pandas", "pyarrow", "numpy", "polars", "deepdiff", "openpyxl", "psycopg")


@pytest.mark.parametrize(
    "module, allowed",
    [
        ("migrate.cli.phase", ()),  # phase list/status/approve: the plan, the target, cutover points
        ("migrate.cli.load", ()),  # pandas and pyarrow come with the first chunk read, not before
        ("migrate.cli.rollback", ()),
        ("migrate.cli.reconcile", ()),  # the comparison imports pandas when it runs; openpyxl for xlsx only
        ("migrate.reconcile.trace", ()),  # the phase plan's checks, run whenever a project is read
        ("migrate.rollback.points", ()),
        ("migrate.load.hashing", ()),
        ("migrate.mapping.spec", ()),
        # the transform is vectorised pandas; psycopg comes with the staging writer (extract/staging.py)
        ("migrate.cli.map", ("pandas", "pyarrow", "numpy", "psycopg")),
    ],
)
def test_a_command_module_imports_no_library_it_does_not_need(module, allowed):
    heavy = tuple(m for m in DATA_LIBRARIES if m not in allowed)
    assert _imported_after(f"import {module}", heavy) == []


def test_phase_list_on_an_sqlite_project_imports_no_data_library():
    """A whole command that reads the project and the plan: the reference project's phases."""
    code = f"import sys\nsys.argv = ['migrate', '--project', {str(ROOT)!r}, 'phase', 'list']\nfrom migrate.cli.app import main\ntry:\n    main()\nexcept SystemExit:\n    pass"
    assert _imported_after(code, DATA_LIBRARIES) == []
