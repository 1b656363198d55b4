"""Push-down: segment checksums narrow the row comparison to the segments that differ,
with the same result as comparing every row; tolerances hold through quantisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from migrate.db import make_engine
from migrate.reconcile import ColumnRule, Tolerance, compare_frames
from migrate.reconcile.pushdown import Side, applicable, compare_pushdown
from tests.reconcile.builders import assert_same_counts


def tables(url: str, seed: int = 3, rows: int = 2000):
    rng = np.random.default_rng(seed)
    left = pd.DataFrame(
        {
            "k": [f"K{i:05d}" for i in range(rows)],
            "qty": [f"{v:.6f}" for v in np.round(rng.uniform(0, 1000, rows), 3)],
            "code": rng.choice(["a", "b", None], rows),
        }
    )
    right = left.copy()
    right.loc[5, "qty"] = f"{float(right.loc[5, 'qty']) + 0.0005:.6f}"  # inside abs 0.001
    right.loc[9, "qty"] = f"{float(right.loc[9, 'qty']) + 0.002:.6f}"  # outside
    right.loc[700, "code"] = "z"
    right = right.drop(index=[1200]).sample(frac=1, random_state=1)
    right = pd.concat([right, pd.DataFrame([{"k": "X1", "qty": "1.000000", "code": "a"}])])
    engine = make_engine(url)
    left.to_sql("expected", engine, index=False)
    right.to_sql("actual", engine, index=False)
    return engine, left, right


def side(engine, table: str) -> Side:
    q = engine.dialect.identifier_preparer.quote
    return Side(engine, q(table), {c: q(c) for c in ("k", "qty", "code")})


def test_pushdown_equals_row_by_row_and_reads_only_differing_segments(target_url):
    engine, left, right = tables(target_url)
    rules = {"qty": ColumnRule("decimal", Tolerance(abs="0.001")), "code": ColumnRule("text")}
    assert applicable(rules)
    pushed = compare_pushdown(
        side(engine, "expected"), side(engine, "actual"), ("k",), rules, segment_rows=20
    )
    full = compare_frames(left, right, ["k"], rules)
    assert pushed.segments >= 16 and pushed.segments_compared <= 5  # K00005 may or may not straddle
    assert_same_counts(pushed, full)
    assert pushed.unequal_by_column == full.unequal_by_column == {"qty": 1, "code": 1}
    assert {tuple(d.key.values()) for d in pushed.details} == {("K00009",), ("K00700",), ("K01200",), ("X1",)}
    engine.dispose()


@pytest.mark.parametrize(
    "rule, expected",
    [
        (ColumnRule("text", normalise=("trim",)), False),
        (ColumnRule("decimal", Tolerance(rel="0.01")), False),
        (ColumnRule("timestamp", Tolerance(seconds=1)), False),
        (ColumnRule("decimal", Tolerance(abs="0.01")), True),
    ],
)
def test_rules_that_cannot_be_pushed_down_fall_back(rule, expected):
    assert applicable({"c": rule}) is expected


@pytest.mark.postgres
def test_bisection_across_backends_in_code_point_order(tmp_path, pg_url):
    """Work store on SQLite, target on PostgreSQL, keys whose code-point order differs from a
    language collation's (case, accents, CJK): ranges, samples and buckets agree on both."""
    rng = np.random.default_rng(7)
    alphabet = ["a", "B", "b", "Z", "é", "E", "中", "文", "_", "0", " "]
    keys = sorted({"".join(rng.choice(alphabet, 4)) for _ in range(600)})
    left = pd.DataFrame({"k": keys, "qty": [f"{i}.000000" for i in range(len(keys))], "code": "a"})
    right = left.copy()
    changed = rng.choice(len(keys) - 1, 3, replace=False)  # few: the bisection's case
    right.loc[changed[:2], "code"] = "b"
    right = right.drop(index=[changed[2] + 1])
    store, target = make_engine(f"sqlite:///{tmp_path / 'store.db'}"), make_engine(pg_url)
    left.to_sql("expected", store, index=False)
    right.to_sql("actual", target, index=False)
    rules = {"qty": ColumnRule("decimal"), "code": ColumnRule("text")}
    pushed = compare_pushdown(
        side(store, "expected"), side(target, "actual"), ("k",), rules, segment_rows=5, fanout=8
    )
    full = compare_frames(left, right, ["k"], rules)
    assert pushed.segments > 2 * 9  # recursed through several levels (9 ranges a level)
    assert pushed.segments_compared < pushed.segments  # and narrowed the work
    assert_same_counts(pushed, full)
    assert sorted(map(repr, pushed.details)) == sorted(map(repr, full.details))
    store.dispose()
    target.dispose()


def test_a_range_that_cannot_be_split_is_read_whole(sqlite_url):
    """A composite key whose first column repeats (lot_genealogy's parent lot): ranges of one
    first-key value cannot be split further and are compared row by row."""
    parents = [f"L{i // 20}" for i in range(80)]  # four first-key values, 20 rows each
    left = pd.DataFrame({"p": parents, "c": [f"C{i:03d}" for i in range(80)], "q": "1"})
    right = left.copy()
    right.loc[[3, 7], "q"] = "2"  # both under L0: its range differs, the others do not
    engine = make_engine(sqlite_url)
    left.to_sql("expected", engine, index=False)
    right.to_sql("actual", engine, index=False)
    sides = [Side(engine, t, {c: c for c in ("p", "c", "q")}) for t in ("expected", "actual")]
    rules = {"q": ColumnRule("text")}
    pushed = compare_pushdown(*sides, ("p", "c"), rules, segment_rows=5, fanout=4)
    assert pushed.unequal_by_column == {"q": 2} and pushed.matched_rows == 80
    assert pushed.segments_compared == 1  # L0's range alone, read whole
    assert {(d.key["p"], d.key["c"]) for d in pushed.details} == {("L0", "C003"), ("L0", "C007")}
    engine.dispose()
