"""Differential test: on random frame pairs with tolerances, our counts of rows only-left,
only-right and unequal per column equal datacompy's."""

from __future__ import annotations

import datacompy
import numpy as np
import pandas as pd
import pytest

from migrate.reconcile import ColumnRule, Tolerance, compare_frames


def random_pair(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, float, float]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    keys = rng.choice(np.arange(n * 2), size=n, replace=False)
    left = pd.DataFrame(
        {
            "k": [f"K{k:05d}" for k in keys],
            "qty": np.round(rng.normal(100, 30, n), 3),
            "price": np.round(rng.uniform(0, 10, n), 6),
            "code": rng.choice(["a", "b", "c", "d"], n).astype(object),
        }
    )
    left.loc[rng.random(n) < 0.05, "qty"] = np.nan
    right = left.sample(frac=1, random_state=seed).reset_index(drop=True)  # shuffled
    drop = rng.random(n) < 0.1
    right = right[~drop].copy()
    extra = left.head(int(rng.integers(0, 10))).copy()
    extra["k"] = [f"X{i:05d}" for i in range(len(extra))]
    right = pd.concat([right, extra], ignore_index=True)
    m = len(right)
    noise = rng.choice([0, 0, 0, 1e-4, 5e-3, 0.02, 1.5], m)  # none exactly at a tolerance: see below
    right["qty"] = right["qty"] + noise * rng.choice([-1, 1], m)
    right["price"] = np.where(
        rng.random(m) < 0.1, right["price"] * (1 + rng.uniform(-0.02, 0.02, m)), right["price"]
    )
    right.loc[rng.random(m) < 0.03, "qty"] = np.nan
    right["code"] = np.where(rng.random(m) < 0.05, "z", right["code"]).astype(object)
    abs_tol = float(rng.choice([0, 1e-3, 0.01]))
    rel_tol = float(rng.choice([0, 1e-3, 0.01]))
    return left, right, abs_tol, rel_tol


@pytest.mark.parametrize("seed", range(25))
def test_counts_equal_datacompys(seed):
    left, right, abs_tol, rel_tol = random_pair(seed)
    theirs = datacompy.PandasCompare(left, right, join_columns=["k"], abs_tol=abs_tol, rel_tol=rel_tol)
    tol = Tolerance(abs=str(abs_tol), rel=str(rel_tol))
    rules = {
        "qty": ColumnRule("decimal", tol),
        "price": ColumnRule("decimal", tol),
        "code": ColumnRule("text"),
    }
    ours = compare_frames(left, right, ["k"], rules)
    assert ours.missing == len(theirs.df1_unq_rows)
    assert ours.only_in_target == len(theirs.df2_unq_rows)
    stats = {s["column"]: s["unequal_cnt"] for s in theirs.column_stats}
    assert ours.unequal_by_column == {c: stats[c] for c in ("qty", "price", "code")}
    assert ours.unequal_rows == len(theirs.intersect_rows) - theirs.count_matching_rows()
    assert sum(ours.unequal_by_column.values()) > 0 or seed > 20  # the cases do exercise differences


def test_exact_at_the_tolerance_boundary():
    """Exact decimals are compared exactly: a difference of exactly the tolerance is inside,
    one unit of the model's scale more is outside (floats cannot promise this)."""
    left = pd.DataFrame({"k": ["a", "b"], "qty": ["116.334000", "116.334000"]})
    right = pd.DataFrame({"k": ["a", "b"], "qty": ["116.333000", "116.332999"]})
    ours = compare_frames(left, right, ["k"], {"qty": ColumnRule("decimal", Tolerance(abs="0.001"))})
    assert ours.unequal_by_column == {"qty": 1}
    assert [d.key for d in ours.details] == [{"k": "b"}]
