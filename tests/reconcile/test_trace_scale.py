"""Traceability checks at scale: the work store's lookup columns are indexed, and Ctrl-C stops
a long check promptly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from migrate.model import ENTITIES
from migrate.reconcile.trace import CHECKS, index_store
from migrate.store import WorkStore, mapped_table

ROOT = Path(__file__).resolve().parents[2]
SLOW = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from migrate.db import make_engine\n"
    "from migrate.reconcile.trace import _keys\n"
    "print('started', flush=True)\n"
    "try:\n"
    "    _keys(make_engine(sys.argv[1]), 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 2000000000) SELECT max(x) FROM c')\n"
    "except KeyboardInterrupt:\n"
    "    sys.exit(130)\n"
)


def test_ctrl_c_stops_a_long_sqlite_check_promptly(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW, f"sqlite:///{tmp_path / 'store.db'}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "started"
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        assert child.wait(timeout=10) == 130
    finally:
        child.kill()
    assert time.monotonic() - sent < 10


def test_the_columns_checks_look_up_are_indexed(tmp_path):
    store = WorkStore(f"sqlite:///{tmp_path / 'store.db'}")
    with store.engine.begin() as c:
        for name in sorted({e for check in CHECKS for e in check.needs}):
            cols = ", ".join(f'"{col}" TEXT' for col in ENTITIES[name].mapped_columns)
            c.execute(text(f'CREATE TABLE "{mapped_table(name)}" ("_row_id" INTEGER PRIMARY KEY, {cols})'))
    index_store(store)
    with store.engine.connect() as c:
        for check in CHECKS:
            plan = [str(r[-1]) for r in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {check.expected_sql}")]
            # one pass over the checked table; every lookup in another is an index search
            indexes = c.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'").all()
            assert [step.startswith("SCAN") for step in plan].count(True) == 1, (check.name, plan, indexes)
    store.dispose()
