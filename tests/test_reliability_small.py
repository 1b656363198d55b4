"""Issue 16 part 5: a time zone that is no zone, `steps:` that is no list, a load error that
keeps its row's lineage, `phase approve` refused at once while another run writes, and
Ctrl-C ending a command with 130 (128 + SIGINT, what shells expect)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from migrate import db
from migrate.errors import CheckFailed, ConfigError, TargetError
from migrate.load import load
from migrate.mapping.spec import read_mapping
from migrate.phase import approve
from migrate.project import Project
from tests.load.conftest import scalar
from tests.load.mapped import make_store, parents
from tests.load.test_cli import project

REPO = Path(__file__).resolve().parents[1]


def _upgraded(url: str) -> str:
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    return url


def test_a_time_zone_that_is_no_zone_is_refused(tmp_path):
    (tmp_path / "project.yaml").write_text("name: x\ndefaults:\n  timezone: Asia/Shanghia\n")
    with pytest.raises(ConfigError) as info:
        Project(tmp_path).spec
    assert (
        info.value.key == "defaults.timezone" and "'Asia/Shanghia' is not a time zone" in info.value.message
    )


def test_steps_must_be_a_list(tmp_path):
    (tmp_path / "mappings").mkdir()
    text = (REPO / "mappings" / "material.yaml").read_text(encoding="utf-8")
    path = tmp_path / "mappings" / "material.yaml"
    path.write_text(
        text.replace("name: {from: 物料名称, steps: [trim]}", "name: {from: 物料名称, steps: trim}")
    )
    with pytest.raises(ConfigError) as info:
        read_mapping(path, tmp_path)
    assert info.value.key == "columns.name.steps" and "write `steps: [trim]`" in info.value.message


def test_a_load_error_names_the_rows_lineage(tmp_path):
    lots = parents()["material_lot"][:3]
    lots[2] = {**lots[2], "material_code": "M-GONE"}  # names no material
    store = make_store(tmp_path / "store.db", 10, extra={"material_lot": lots})
    import sqlite3

    con = sqlite3.connect(tmp_path / "store.db")  # from a database table: no file, no sheet
    with con:
        con.execute('UPDATE "map_material_lot" SET "_file" = NULL, "_sheet" = NULL')
    con.close()
    url = _upgraded(f"sqlite:///{tmp_path / 'target.db'}")
    with pytest.raises(TargetError) as info:
        load(url, store, ["supplier", "material", "material_lot"])
    message = info.value.message
    assert (
        "material_code 'M-GONE' names no row in the target (mapped row 3, from source mes, row 4)" in message
    )
    assert "None" not in message


_HOLDER = """
import sys, time
from migrate.load.lease import Lease
from migrate.urls import parse_url
lease = Lease(parse_url(sys.argv[1]), "holder", "migrate load")  # its session holds the lock
lease.acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_phase_approve_is_refused_at_once_while_another_run_writes(target_url, tmp_path):
    url = _upgraded(target_url)
    (tmp_path / "project.yaml").write_text("name: x\n")
    shutil.copytree(REPO / "phases", tmp_path / "phases")
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(CheckFailed) as info:
            approve(Project(tmp_path, target_override=url), "master-data", operator="qa")
        assert time.monotonic() - started < 2.0
        assert "being written by another run" in info.value.message
    finally:
        holder.kill()
        holder.wait()


def test_ctrl_c_mid_load_exits_130(sqlite_url, tmp_path):
    root = project(tmp_path, sqlite_url)
    env = {**os.environ, "MIGRATE_LOAD_SLOW": "0.3", "COLUMNS": "200"}
    env.pop("MIGRATE_LOAD_FAULT", None)
    argv = [sys.executable, "-m", "migrate", "--project", str(root), "--target", sqlite_url, "load"]
    proc = subprocess.Popen(
        [*argv, "--chunk-size", "500"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if scalar(sqlite_url, "SELECT COUNT(*) FROM migrate_load_checkpoint"):
                    break
            except Exception:  # noqa: BLE001 - not written yet, or locked
                pass
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "stopped by SIGINT" in " ".join(err.split())
