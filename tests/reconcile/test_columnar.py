"""The Arrow fast path (`columnar`): read from SQL in storage order, split by key hash into
buckets, compared with Arrow kernels. Its counts equal datacompy's on the differential test's
random pairs, whatever the bucket count; repeated keys go to the pandas path and still count."""

from __future__ import annotations

import subprocess
import sys

import datacompy
import pandas as pd
import pytest
from sqlalchemy import text

from migrate import arrowread
from migrate.db import make_engine
from migrate.reconcile import ColumnRule, Tolerance, compare_frames, compare_tables
from tests.reconcile.builders import assert_same_counts
from tests.reconcile.test_differential_datacompy import random_pair


def _tables(url: str, left: pd.DataFrame, right: pd.DataFrame):
    engine = make_engine(url)
    left.to_sql("expected", engine, index=False)
    right.to_sql("actual", engine, index=False)
    return engine


def _rules(abs_tol: float, rel_tol: float) -> dict[str, ColumnRule]:
    tol = Tolerance(abs=str(abs_tol), rel=str(rel_tol))
    return {
        "qty": ColumnRule("decimal", tol),
        "price": ColumnRule("decimal", tol),
        "code": ColumnRule("text"),
    }


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("bucket_rows", [10_000, 37])  # one bucket in memory; several spilled to disk
def test_counts_equal_datacompys_from_sql(tmp_path, seed, bucket_rows):
    assert_counts_equal_datacompys(tmp_path, seed, bucket_rows=bucket_rows)


def assert_counts_equal_datacompys(tmp_path, seed: int, **options) -> None:
    left, right, abs_tol, rel_tol = random_pair(seed)
    engine = _tables(f"sqlite:///{tmp_path / 'pair.db'}", left, right)
    theirs = datacompy.PandasCompare(left, right, join_columns=["k"], abs_tol=abs_tol, rel_tol=rel_tol)
    ours = compare_tables(
        engine,
        "SELECT k, qty, price, code FROM expected",
        engine,
        "SELECT k, qty, price, code FROM actual",
        ("k",),
        _rules(abs_tol, rel_tol),
        chunk_size=16,
        **options,
    )
    assert (ours.missing, ours.only_in_target) == (len(theirs.df1_unq_rows), len(theirs.df2_unq_rows))
    stats = {s["column"]: s["unequal_cnt"] for s in theirs.column_stats}
    assert ours.unequal_by_column == {c: stats[c] for c in ("qty", "price", "code")}
    assert ours.unequal_rows == len(theirs.intersect_rows) - theirs.count_matching_rows()
    engine.dispose()


def test_same_result_as_the_pandas_path_with_repeats_and_nulls(target_url):
    left = pd.DataFrame(
        {"k": ["a", "b", "b", "c", "d", "e"], "v": ["1", "2", "3", None, "x", ""], "w": ["p"] * 6}
    )
    right = pd.DataFrame({"k": ["e", "d", "c", "b", "f"], "v": [None, "x", None, "2", "9"], "w": ["p"] * 5})
    engine = _tables(target_url, left, right)
    rules = {"v": ColumnRule("text"), "w": ColumnRule("text")}
    sql = "SELECT k, v, w FROM {}"
    ours = compare_tables(
        engine, sql.format("expected"), engine, sql.format("actual"), ("k",), rules, bucket_rows=2
    )
    full = compare_frames(left, right, ["k"], rules)
    assert_same_counts(ours, full)
    assert ours.duplicate_keys_expected == full.duplicate_keys_expected == 1
    assert ours.unequal_by_column == full.unequal_by_column == {"v": 1, "w": 0}  # '' is not NULL
    assert sorted(map(repr, ours.details)) == sorted(map(repr, full.details))
    engine.dispose()


@pytest.mark.parametrize("seed", range(3))
def test_adbc_reader_counts_equal_datacompys(tmp_path, monkeypatch, seed):
    """The large-table reader (ADBC in its own process) gives the counts the sqlite3 reader gives."""
    monkeypatch.setattr(arrowread, "ADBC_MIN_ROWS", 0)
    assert_counts_equal_datacompys(tmp_path, seed)


def test_adbc_reader_leaves_this_processs_sqlite_connections_whole(tmp_path, monkeypatch):
    """Regression: with the ADBC driver (its own copy of SQLite) in this process, closing it
    deleted the WAL under an open sqlite3 connection, whose next commit no other process saw.
    A commit made after a large reconcile read must be visible to another process."""
    monkeypatch.setattr(arrowread, "ADBC_MIN_ROWS", 0)
    path = tmp_path / "pair.db"
    left, right, _, _ = random_pair(0)
    engine = _tables(f"sqlite:///{path}", left, right)  # WAL, as every store and target
    with engine.connect() as held:  # open across the read, as `phase approve` holds the target
        held.execute(text("CREATE TABLE point (name TEXT)"))
        held.commit()
        compare_tables(
            engine,
            "SELECT k, code FROM expected",
            engine,
            "SELECT k, code FROM actual",
            ("k",),
            {"code": ColumnRule("text")},
        )
        held.execute(text("INSERT INTO point VALUES ('C1')"))
        held.commit()
        seen = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sqlite3; print(sqlite3.connect({str(path)!r}).execute('SELECT COUNT(*) FROM point').fetchone()[0])",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    engine.dispose()
    assert seen.stdout.strip() == "1"
