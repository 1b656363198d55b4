"""A database source's values staged as text a column at a time: the same texts, positions and
fingerprint as turning each value into text one by one (`db_text`) and hashing row by row."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from decimal import Decimal

import pytest

from migrate.extract import extract, stage
from migrate.extract.readers.database import column_texts, db_text
from tests.extract.helpers import make_project, staged

INF = float("inf")
FLOATS = [0.1, 1e-05, 3.0, -0.0, 1e16, 2.0**63, 1e21, 1.5e300, float("nan"), INF, -INF, None]
COLUMNS = {
    "texts": ["a", "", None, "  b ", "数量"],
    "whole texts": ["a", "b"],
    "integers": [1, -2, 10**30, 0],
    "integers with null": [1, None, 3],
    "floats": FLOATS,
    "numeric affinity": [198, 197.995, None, 12.0, -3, 0.5],
    "other kinds": [Decimal("1.50"), b"\x00\xff", dt.datetime(2024, 3, 1, 8, 30), True, 7, 2.5, None],
    "all null": [None, None],
}


@pytest.mark.parametrize("values", list(COLUMNS.values()), ids=list(COLUMNS))
def test_a_column_becomes_the_texts_of_its_values(values):
    assert list(column_texts(tuple(values))) == [db_text(v) for v in values]


def _hash_row_by_row(rows: list[tuple]) -> str:
    hasher = hashlib.sha256()
    for row in rows:
        texts = ["\x00" if v is None else v for v in map(db_text, row)]
        hasher.update("\x1f".join(texts).encode("utf-8", "surrogatepass") + b"\x1e")
    return f"rows:{len(rows)};sha256:{hasher.hexdigest()}"


@pytest.mark.parametrize("bulk", [False, True], ids=["executemany", "adbc ingest"])
def test_numeric_affinity_table_staged_in_chunks_with_positions_and_fingerprint(tmp_path, monkeypatch, bulk):
    if bulk:  # a big table goes to the ingest process: the same rows, in the same order
        monkeypatch.setattr(stage, "BULK_ROWS", 2)
    rows = [(i, f"P{i}", v) for i, v in enumerate([198, 197.995, None, 12.0, "", 0.1, 7], start=1)]
    db = tmp_path / "mes.db"
    with sqlite3.connect(db) as c:
        c.execute("create table p (id integer primary key, name text, value numeric(18, 4))")
        c.executemany("insert into p values (?, ?, ?)", rows)
        stored = c.execute("select * from p order by id").fetchall()  # as SQLite's affinity keeps them
    spec = {"kind": "sql", "url": f"sqlite:///{db}", "table": "p", "chunk_size": 3}
    project = make_project(tmp_path, {"p": spec})
    result = extract(project).sources[0]
    assert result.rows == len(rows)
    assert result.fingerprint == _hash_row_by_row(stored)
    assert [(r["_row"], r["id"], r["name"], r["value"], r["_sheet"]) for r in staged(project, "p")] == [
        (n, *map(db_text, row), None) for n, row in enumerate(stored, start=1)
    ]
    assert (result.reader, result.status) == ("sqlalchemy stream", "extracted")
