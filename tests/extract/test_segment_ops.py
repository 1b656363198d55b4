"""The segmented xlsx read in operation: on both work stores, when the store fails under it, and
when it is killed half way (RELIABILITY T1/T4 for extract): nothing half-staged, nothing left
running, the next run complete."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import psutil
import pytest
from sqlalchemy import inspect

from migrate import ingest
from migrate.errors import MigrateError
from migrate.extract import extract
from migrate.extract.readers import segments
from migrate.store import WorkStore
from tests.extract.helpers import make_project, staged

ROWS = 6_000


def _book(path: Path, rows: int = ROWS) -> None:
    """Codes with leading zeros, decimals, dates, texts and blanks, in shared strings (openpyxl)."""
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("批次")
    ws.append(["批号", "物料编码", "数量", "生产日期", "状态", "备注"])
    for i in range(rows):
        ws.append(
            [
                f"L{i:07d}",
                f"{i % 997:06d}",
                round(i * 0.37, 3),
                dt.date(2024, 1, 1) + dt.timedelta(days=i % 365),
                ("合格", "待检", "NA")[i % 3],
                None if i % 4 else "加急",
            ]
        )
    wb.save(path)


def _without_ids(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("_row_id", "_run")} for r in rows]


def test_segments_stage_what_the_whole_sheet_read_stages_on_both_stores(tmp_path, target_url, monkeypatch):
    """SQLite stages through the ADBC ingest process, PostgreSQL through COPY: same rows as one read."""
    _book(tmp_path / "b.xlsx")
    project = make_project(tmp_path, {"b": {"kind": "xlsx", "path": "b.xlsx"}}, staging=target_url)
    monkeypatch.setattr(segments, "SEGMENT_BYTES", 16_384)
    cut = extract(project, force=True).sources[0]
    cut_rows = staged(project, "b")
    monkeypatch.setattr(segments, "SEGMENT_BYTES", 1 << 40)
    whole = extract(project, force=True).sources[0]
    assert (cut.reader, whole.reader) == ("fastexcel-segments", "fastexcel")
    assert cut.rows == whole.rows == ROWS and cut.skipped == whole.skipped
    assert _without_ids(cut_rows) == _without_ids(staged(project, "b"))
    assert [r["_row"] for r in cut_rows] == list(range(2, ROWS + 2))  # in file order
    assert cut_rows[0]["物料编码"] == "000000" and cut_rows[1]["数量"] == "0.37"


def _failing_ingest(*args, **kwargs):
    raise ingest.IngestError("database or disk is full")


def test_a_failing_ingest_fails_the_run_and_keeps_the_previous_rows(tmp_path, monkeypatch):
    """The ingest process's error reaches the run as the usual work-store error (exit 2); the
    previous extract's rows stay whole and no side table is left."""
    _book(tmp_path / "b.xlsx")
    project = make_project(tmp_path, {"b": {"kind": "xlsx", "path": "b.xlsx"}})
    monkeypatch.setattr(segments, "SEGMENT_BYTES", 16_384)
    assert extract(project).sources[0].rows == ROWS
    before = staged(project, "b")
    monkeypatch.setattr(ingest, "ingest_sqlite", _failing_ingest)  # forked workers inherit it
    with pytest.raises(MigrateError, match="cannot write the work store .*disk is full") as failed:
        extract(project, force=True)
    assert failed.value.exit_code == 2
    assert str(failed.value).startswith("b.xlsx, sheet 批次: cannot write")  # where it was staging
    assert staged(project, "b") == before
    store = WorkStore(project.staging_url)
    try:
        assert not [t for t in inspect(store.engine).get_table_names() if t.startswith("stg__new_")]
    finally:
        store.dispose()


_EXTRACT = "import sys\nfrom migrate.extract import extract\nfrom migrate.project import Project\nextract(Project(sys.argv[1]), force=True)\n"


def test_kill_9_half_way_leaves_no_worker_and_the_next_run_is_complete(tmp_path):
    """kill -9 of an extract while segments are being staged: its workers end by themselves,
    the staged table keeps the previous run, and the next run stages every row."""
    rows = 60_000
    _book(tmp_path / "b.xlsx", rows)
    project = make_project(tmp_path, {"b": {"kind": "xlsx", "path": "b.xlsx"}})
    env = os.environ | {"MIGRATE_XLSX_SEGMENT_BYTES": "65536"}
    first = subprocess.run(
        [sys.executable, "-c", _EXTRACT, str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    before = len(staged(project, "b"))
    proc = subprocess.Popen([sys.executable, "-c", _EXTRACT, str(tmp_path)], env=env)
    workers = _wait_for_staging(proc, project)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers left running: {alive}"
    assert len(staged(project, "b")) == before == rows
    result = extract(project, force=True).sources[0]
    assert result.rows == rows and len(staged(project, "b")) == rows
    killed = {f"migrate-segment-{w.pid}-" for w in workers}  # the killed workers' segment files
    leftovers = [p.name for p in Path(segments.scratch_dir()).glob("migrate-segment-*")]
    assert not [name for name in leftovers if any(name.startswith(k) for k in killed)]


def _wait_for_staging(proc: subprocess.Popen, project) -> list[psutil.Process]:
    """The extract's worker processes, once some rows of the new run are in its side table."""
    store = WorkStore(project.staging_url)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the extract ended before it could be killed"
            sides = [t for t in inspect(store.engine).get_table_names() if t.startswith("stg__new_")]
            if sides:
                with store.engine.connect() as c:
                    if c.exec_driver_sql(f'SELECT count(*) FROM "{sides[0]}"').scalar():
                        return psutil.Process(proc.pid).children(recursive=True)
            time.sleep(0.02)
    finally:
        store.dispose()
    raise AssertionError("no segment was staged within 60 s")
