"""Output that survives 80 columns and pipes: no entity, source, phase or point name is cut in
any table the demo prints, on a real 80-column terminal or piped; numbers and times one way."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.cli.output import more, number, when
from migrate.model import ENTITIES
from migrate.project import Project
from tests.cli.terminal import run_in_terminal, screen_lines

TOKEN = re.compile(r"[^\s,;:()\[\]'\"✓]+")
# what the demo's own closing lines tell a new user to try, and the README's tour
COMMANDS = [
    ("sources", "list"),
    ("sources", "check"),
    ("extract",),
    ("map", "--simulate"),
    ("load",),
    ("reconcile",),
    ("phase", "list"),
    ("phase", "status"),
    ("rollback", "plan", "--to", "master-data"),
    ("rollback", "points"),
    ("audit", "log"),
]
WHOLE_ROWS = {
    ("phase", "status"): ("production-history", "equipment_status"),
    ("reconcile",): ("inventory_movement", "OK"),
}
# a representative slice runs by default; the whole sweep is marked slow
IN_TERMINAL = [
    ("phase", "status"),
    pytest.param(("reconcile",), marks=pytest.mark.slow),
    pytest.param(("rollback", "plan", "--to", "master-data"), marks=pytest.mark.slow),
    pytest.param(("rollback", "points"), marks=pytest.mark.slow),
]
PIPED = [
    c if c in (("phase", "status"), ("reconcile",), ("extract",)) else pytest.param(c, marks=pytest.mark.slow)
    for c in COMMANDS
]


def names(root: Path) -> set[str]:
    project = Project(root)
    return {*ENTITIES, *project.spec.sources, *(p.name for p in project.plan.phases), "start"}


def cut_names(lines: list[str], known: set[str]) -> list[str]:
    """Tokens that are more than half of a known name's start but not the name: a name cut by
    the layout (`production-histo`, `inventory_moveme`; the word `open` is not `open-inventory`)."""
    return [
        f"{token!r} in {line!r}"
        for line in lines
        for token in TOKEN.findall(line.replace("…", " "))
        if token not in known and any(n.startswith(token) and len(token) * 2 > len(n) for n in known)
    ]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, int, str]:
    """The demo itself on a real 80x40 terminal, on a small estate."""
    folder = tmp_path_factory.mktemp("out") / "demo"
    code, received = run_in_terminal(["demo", "--rows", "100", "--dir", str(folder)], cwd=folder.parent)
    return folder, code, received


def test_the_demo_on_an_80_column_terminal_cuts_no_name(demo):
    folder, code, received = demo
    assert code == 0, received[-2000:]
    lines = screen_lines(received)
    assert not cut_names(lines, names(folder))
    assert max(cell_len(line) for line in lines) <= 80
    shown = set(TOKEN.findall("\n".join(lines)))
    assert set(ENTITIES) <= shown and set(Project(folder).spec.sources) <= shown
    assert any(line.startswith("✓ load process_parameter: ") for line in lines)  # finished stages summarised


@pytest.mark.parametrize("command", IN_TERMINAL, ids=" ".join)
def test_demo_commands_on_an_80_column_terminal(demo, command):
    folder = demo[0]
    code, received = run_in_terminal(["--project", str(folder), *command], cwd=folder)
    lines = screen_lines(received)
    assert code in (0, 1), received[-2000:]
    assert not cut_names(lines, names(folder))
    assert max(cell_len(line) for line in lines) <= 80


@pytest.mark.parametrize("command", PIPED, ids=" ".join)
def test_demo_commands_piped_are_plain_full_lines(demo, command):
    folder = demo[0]
    result = CliRunner().invoke(app, ["--project", str(folder), *command], env={"COLUMNS": "80"})
    assert result.exit_code in (0, 1), result.output
    lines = result.stdout.splitlines()
    assert not cut_names(lines, names(folder))
    assert all(line == line.rstrip() for line in lines)  # no padding to a terminal's width
    if command in WHOLE_ROWS:  # a row stays on one line, however wide
        first, last = WHOLE_ROWS[command]
        assert any(line.startswith(first) and last in line for line in lines), result.stdout
    assert "\x1b[" not in result.stdout and "━" not in result.stdout
    if command == ("reconcile",):  # the traceability counts say what they count
        assert "traceability lot_origin: ok (broken links: 0 in the sources, 0 in the target)" in lines


def test_quiet_silences_chatter_never_the_result(demo):
    folder = demo[0]
    quiet = CliRunner().invoke(app, ["--project", str(folder), "--quiet", "phase", "status"])
    assert quiet.exit_code == 0 and "master-data" in quiet.stdout
    points = CliRunner().invoke(app, ["--project", str(folder), "--quiet", "rollback", "points"])
    assert "+08:00" in points.stdout  # the project's time zone (Asia/Shanghai), with its offset


def test_numbers_and_times_one_way():
    assert [number(v) for v in (1234567, Decimal("1234.500000"), Decimal("12.000000"), 0.1, None)] == [
        "1,234,567",
        "1,234.5",
        "12",
        "0.1",
        "",
    ]
    moment = datetime(2026, 3, 1, 8, 5, tzinfo=UTC)
    assert when(moment, "Asia/Shanghai") == "2026-03-01 16:05:00 +08:00"
    assert when(moment) == "2026-03-01 08:05:00 +00:00"
    assert more(10, 25) == "… and 15 more" and more(10, 10) == ""


def test_people_list_keeps_each_key_fingerprint_whole_at_80_columns(demo):
    """A fingerprint is compared character by character with `ssh-keygen -l`: cut to fit
    (`SHA256:4m4PSed06mEMM9v+fQnlM…`), it cannot be checked."""
    folder = demo[0]
    listed = CliRunner().invoke(app, ["--project", str(folder), "--json", "people", "list"])
    fingerprints = [p["fingerprint"] for p in json.loads(listed.stdout)["people"]]
    code, received = run_in_terminal(["--project", str(folder), "people", "list"], cwd=folder)
    lines = screen_lines(received)
    assert code == 0 and max(cell_len(line) for line in lines) <= 80
    assert len(fingerprints) >= 2 and all(any(f in line for line in lines) for f in fingerprints), lines


def test_ctrl_c_in_a_load_ends_its_stage_as_stopped_never_ticked(demo, tmp_path):
    """Ctrl-C mid-load: the stage's summary says where it stopped (a tick would say it
    finished), the error says how to resume, numbers one way, and the resume completes."""
    folder = tmp_path / "demo"
    shutil.copytree(demo[0], folder)
    back = CliRunner().invoke(
        app, ["--project", str(folder), "rollback", "run", "--to", "open-inventory", "--yes"]
    )
    assert back.exit_code == 0, back.output
    code, received = run_in_terminal(
        ["--project", str(folder), "load", "--phase", "production-history", "--chunk-size", "20"],
        cwd=folder,
        interrupt_at="load process_parameter",
        env={"MIGRATE_LOAD_SLOW": "0.2"},
        timeout=120,
    )
    text = " ".join(" ".join(screen_lines(received)).split())  # lines wrap at 80 columns
    assert code == 130, text[-2000:]
    assert re.search(r"✗ load process_parameter: stopped at [\d,]+ of [\d,]+ rows", text), text[-2000:]
    assert "✓ load process_parameter" not in text
    assert "stopped by SIGINT" in text and "running the same command again" in text
    resumed = CliRunner().invoke(
        app, ["--project", str(folder), "load", "--phase", "production-history", "--resume"]
    )
    assert resumed.exit_code == 0 and "resumed at chunk" in resumed.stdout, resumed.output
