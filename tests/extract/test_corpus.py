"""RELIABILITY T4 through the CLI: every corpus file gives exit 2 with a located one-paragraph
message and no traceback, or stages exactly the rows it should; bombs are refused in bounded
memory and time."""

from __future__ import annotations

import atexit
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.project import Project
from tests.extract import corpus
from tests.extract.helpers import staged

# written once at collection, so each case is its own test; removed at exit
CORPUS_DIR = Path(tempfile.mkdtemp(prefix="extract-corpus-"))
atexit.register(shutil.rmtree, CORPUS_DIR, True)
CASES = {case.name: case for case in corpus.build(CORPUS_DIR)}
(CORPUS_DIR / "project.yaml").write_text(
    yaml.safe_dump({"name": "corpus", "sources": {n: c.spec for n, c in CASES.items()}}, allow_unicode=True),
    encoding="utf-8",
)
BOMBS = ["zip_bomb_ratio", "zip_size_lie", "zip_too_many_entries", "xml_entity_bomb", "xml_external_entity"]
runner = CliRunner()


def test_corpus_is_big_enough():
    files = [p for p in CORPUS_DIR.iterdir() if p.name != "project.yaml"]
    assert len(files) >= 60 and len(CASES) >= 60


@pytest.mark.parametrize("name", list(CASES))
def test_corpus_case(name):
    case = CASES[name]
    result = runner.invoke(app, ["--project", str(CORPUS_DIR), "--json", "extract", name, "--force"])
    out = json.loads(result.stdout)
    assert "Traceback" not in result.output
    if case.error:
        assert result.exit_code == 2, result.output
        message = out["message"]
        assert re.search(case.error, message), message
        assert "\n" not in message.strip()
        return
    assert result.exit_code == 0, result.output
    (source,) = out["sources"]
    assert source["rows"] == case.rows
    rows = staged(Project(CORPUS_DIR), name)
    assert len(rows) == case.rows
    assert all(r["_source"] == name and r["_file"] == case.spec["path"] and r["_row"] >= 1 for r in rows)
    if case.skipped is not None:
        assert source["skipped"] == case.skipped
    if case.warnings:
        assert any(re.search(case.warnings, w) for w in source["warnings"]), source["warnings"]
    for check in case.checks:
        check(rows)


_MEASURE = (
    "import resource, sys, time\n"
    "from migrate.cli.app import main\n"
    "sys.argv = ['migrate', *sys.argv[1:]]\n"
    "started = time.perf_counter()\n"
    "try:\n    main()\n"
    "except SystemExit as exc:\n    code = exc.code\n"
    "print(f'SECONDS={time.perf_counter() - started}', file=sys.stderr)\n"
    "print(f'MAXRSS={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
    "raise SystemExit(code)\n"
)


@pytest.mark.parametrize("name", BOMBS)
def test_bombs_refused_in_bounded_memory_and_time(name):
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, "--project", str(CORPUS_DIR), "extract", name, "--force"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert re.search(r"is (refused|damaged)", proc.stderr) and "Traceback" not in proc.stderr
    peak_kib = int(re.search(r"MAXRSS=(\d+)", proc.stderr).group(1))
    assert peak_kib < 512 * 1024, f"peak RSS {peak_kib} KiB"
    elapsed = float(
        re.search(r"SECONDS=([\d.]+)", proc.stderr).group(1)
    )  # the command, not interpreter start-up
    assert elapsed < 30


WORKBOOK_ROWS = [n for n, c in CASES.items() if c.spec["kind"] == "xlsx" and c.error is None]


@pytest.mark.parametrize("name", WORKBOOK_ROWS)
def test_streaming_reader_stages_what_calamine_stages(name, monkeypatch, tmp_path):
    """Sheets past the size threshold go through openpyxl read-only: same rows, same text."""
    from migrate.extract import extract
    from migrate.extract.readers import workbook

    spec = CASES[name].spec | {"path": str(CORPUS_DIR / CASES[name].spec["path"])}
    (tmp_path / "project.yaml").write_text(
        yaml.safe_dump({"name": "s", "sources": {name: spec}}), encoding="utf-8"
    )
    project = Project(tmp_path)
    fast = extract(project).sources[0]
    rows_fast = staged(project, name)
    monkeypatch.setattr(workbook, "STREAM_BYTES", 0)
    streamed = extract(project, force=True).sources[0]
    assert streamed.reader == "openpyxl-stream"
    assert set(fast.reader.split(", ")) <= {"fastexcel", "calamine"}  # each sheet's own, in order
    drop = ("_row_id", "_run")
    assert [{k: v for k, v in r.items() if k not in drop} for r in staged(project, name)] == [
        {k: v for k, v in r.items() if k not in drop} for r in rows_fast
    ]
    assert (streamed.rows, streamed.skipped, streamed.warnings) == (fast.rows, fast.skipped, fast.warnings)
