"""The structured difference (deepdiff) of each differing row listed in the report: column
tolerances honoured, NULL against '' a type change, the same from both comparison paths."""

from __future__ import annotations

import re

import pandas as pd

from migrate.db import make_engine
from migrate.reconcile import ColumnRule, Tolerance, compare_frames, compare_tables
from migrate.reconcile.compare import structured_difference

RULES = {
    "qty": ColumnRule("decimal", Tolerance(abs="0.001")),
    "at": ColumnRule("timestamp", Tolerance(seconds=2)),
    "note": ColumnRule("text"),
}


def test_tolerances_are_honoured_inside_and_outside():
    expected = {"qty": "116.334000", "at": "2024-03-01T00:30:00+00:00", "note": None}
    inside = {"qty": "116.333000", "at": "2024-03-01T00:30:02+00:00", "note": None}
    assert structured_difference(expected, inside, RULES) == {}
    outside = {"qty": "116.332999", "at": "2024-03-01T00:30:03+00:00", "note": ""}
    diff = structured_difference(expected, outside, RULES)
    assert diff["values_changed"] == {
        "root['qty']": {"old_value": "116.334000", "new_value": "116.332999"},
        "root['at']": {"old_value": "2024-03-01T00:30:00+00:00", "new_value": "2024-03-01T00:30:03+00:00"},
    }
    assert diff["type_changes"]["root['note']"] == {
        "old_type": "NoneType",
        "new_type": "str",
        "old_value": None,
        "new_value": "",
    }


def _frames():
    left = pd.DataFrame(
        {
            "k": ["a", "b", "c", "d"],
            "qty": ["1.000000", "2.000000", "3.000000", "4.000000"],
            "at": ["2024-03-01T00:30:00+00:00"] * 4,
            "note": ["x", "y", None, "w"],
        }
    )
    right = left.copy()
    right.loc[0, "qty"] = "1.000500"  # inside: not a difference
    right.loc[1, ["qty", "note"]] = ["2.002000", "Y"]  # two columns of one row
    right.loc[2, "note"] = ""  # NULL against ''
    right.loc[3, "at"] = "2024-03-01T01:30:00+00:00"  # a timezone shift
    return left, right


def _changed_columns(diff: dict) -> set[str]:
    return {re.fullmatch(r"root\['(.+)'\]", p).group(1) for kind in diff.values() for p in kind}


def test_every_listed_row_has_its_structured_difference_from_both_paths(tmp_path):
    left, right = _frames()
    by_frames = compare_frames(left, right, ["k"], RULES).to_dict()
    engine = make_engine(f"sqlite:///{tmp_path / 'pair.db'}")
    left.to_sql("expected", engine, index=False)
    right.to_sql("actual", engine, index=False)
    sql = "SELECT k, qty, at, note FROM {}"
    by_sql = compare_tables(engine, sql.format("expected"), engine, sql.format("actual"), ("k",), RULES)
    engine.dispose()
    for report in (by_frames, by_sql.to_dict()):
        rows = {r["key"]["k"]: r["diff"] for r in report["row_diffs"]}
        assert set(rows) == {"b", "c", "d"}
        for key, diff in rows.items():  # the same columns as the flat details name
            named = {d["column"] for d in report["details"] if d["key"]["k"] == key}
            assert _changed_columns(diff) == named
        assert set(rows["c"]) == {"type_changes"}
    assert sorted(by_frames["row_diffs"], key=str) == sorted(by_sql.to_dict()["row_diffs"], key=str)
