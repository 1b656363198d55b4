"""Extract's progress knows its totals where they are known, so the live line can show rows/s
and an ETA: a sheet read by the fast path (its row count), a big sheet read in segments (an
estimate from the share of its bytes placed, settled at the end), a database table (COUNT)."""

from __future__ import annotations

import sqlite3

import pytest

from migrate.extract import extract
from tests.extract import segment_books as sb
from tests.extract.helpers import make_project

TINY = 8192  # bytes per segment: a 2,000-row ledger sheet is cut into dozens of segments


class RecordedTask:
    def __init__(self, description: str, total: int | None) -> None:
        self.description, self.totals, self.done = description, [total], 0
        self.seen: list[tuple[int, int | None]] = []  # (rows done, total known) at each advance

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        self.seen.append((self.done, self.totals[-1]))

    def update(self, *, total: int | None = None, description: str | None = None) -> None:
        if total is not None:
            self.totals.append(total)


class RecordedProgress:
    def __init__(self) -> None:
        self.tasks: list[RecordedTask] = []

    def task(self, description: str, total: int | None = None, unit: str = "rows") -> RecordedTask:
        self.tasks.append(RecordedTask(description, total))
        return self.tasks[-1]


def _extract(project) -> RecordedTask:
    progress = RecordedProgress()
    extract(project, force=True, progress=progress)
    (task,) = progress.tasks
    return task


def test_a_fast_path_sheet_starts_with_its_row_count(tmp_path):
    sb.write_book(tmp_path / "b.xlsx", [sb.ledger("表", rows=300)])
    task = _extract(make_project(tmp_path, {"s": {"kind": "xlsx", "path": "b.xlsx"}}))
    assert task.totals[0] == 300 and task.done == 300


def test_a_segmented_sheet_estimates_its_total_then_settles_it(tmp_path, monkeypatch):
    from migrate.extract.readers import segments

    sb.write_book(tmp_path / "b.xlsx", [sb.ledger("表", rows=2000)])
    monkeypatch.setattr(segments, "SEGMENT_BYTES", TINY)
    task = _extract(make_project(tmp_path, {"s": {"kind": "xlsx", "path": "b.xlsx"}}))
    assert task.done == 2000 and task.totals[-1] == 2000  # settled at the end
    halfway = [total for done, total in task.seen if 800 <= done <= 1200]
    assert halfway and all(total is not None and 1500 <= total <= 2500 for total in halfway)
    # the bar never ends early: each estimate stays above the rows done until it is settled
    assert all(total is None or total > done for done, total in task.seen[:-1])


@pytest.mark.parametrize("declared", ["table", "query"])
def test_a_database_table_is_counted_first_a_query_is_not(tmp_path, declared):
    db = tmp_path / "mes.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE wo (no TEXT, qty TEXT)")
        conn.executemany("INSERT INTO wo VALUES (?, ?)", [(f"WO{i}", str(i)) for i in range(250)])
    source = {"kind": "sql", "url": f"sqlite:///{db}", "chunk_size": 100}
    source |= {"table": "wo"} if declared == "table" else {"query": "SELECT no, qty FROM wo"}
    task = _extract(make_project(tmp_path, {"wo": source}))
    assert task.done == 250
    assert task.totals[0] == (250 if declared == "table" else None)
