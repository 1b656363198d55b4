"""Conditionals: `case` branches for a column, `negate_when`, filters on combined
conditions; checked against the same result computed with pandas (`numpy.select`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from migrate.errors import ConfigError
from tests.map.estate import accounted, build, read, rejects, run

VENDORS = [
    {"Code": "V1", "Name": "One", "Flag": "B", "Rating": "", "Kind": "P"},
    {"Code": "V2", "Name": "Two", "Flag": "", "Rating": "", "Kind": "P"},
    {"Code": "V3", "Name": "Three", "Flag": "A", "Rating": "good", "Kind": "P"},
    {"Code": "V4", "Name": "Four", "Flag": "A", "Rating": "bad", "Kind": "P"},
    {"Code": "V5", "Name": "Five", "Flag": "A", "Rating": "meh", "Kind": "P"},  # not in the map
    {"Code": "V6", "Name": "Six", "Flag": "Q", "Rating": "", "Kind": "P"},
    {"Code": "V7", "Name": "Seven", "Flag": "X", "Rating": "", "Kind": "T"},  # test vendor
    {"Code": "V8", "Name": "", "Flag": "A", "Rating": "good", "Kind": "T"},  # T without a name
]
SUPPLIER = {
    "sources": ["vendors"],
    "columns": {
        "supplier_code": {"from": "Code"},
        "name": {"from": "Name"},
        "qualification_status": {
            "case": [
                {"when": {"column": "Flag", "in": ["B", "X"]}, "then": "blocked"},
                {"when": {"column": "Flag", "empty": True}, "then": "conditional"},
                {
                    "when": {"column": "Rating", "regex": "^(good|bad|meh)$"},
                    "then": {"from": "Rating", "steps": [{"value_map": "rating"}]},
                },
                {"else": "approved"},
            ]
        },
    },
    "filters": [
        {
            "name": "test_vendor",
            "all": [{"column": "Kind", "equals": "T"}, {"column": "Name", "empty": False}],
        }
    ],
}
RATING = {"strict": True, "entries": {"good": "approved", "bad": "blocked"}}


def expected_with_pandas() -> pd.DataFrame:
    frame = pd.DataFrame(VENDORS).assign(_row=range(2, 10))
    frame = frame[~((frame.Kind == "T") & (frame.Name != ""))]
    status = np.select(
        [frame.Flag.isin(["B", "X"]), frame.Flag == "", frame.Rating.str.match("^(good|bad|meh)$")],
        ["blocked", "conditional", frame.Rating.map(RATING["entries"]).fillna("?")],
        "approved",
    )
    return pd.DataFrame({"_row": frame._row, "supplier_code": frame.Code, "qualification_status": status})


@pytest.fixture
def project(tmp_path):
    from tests.map.helpers import write_values

    built = build(tmp_path, {"vendors": VENDORS}, {"supplier": SUPPLIER})
    write_values(tmp_path, "rating", RATING)
    return built


def test_case_against_pandas(project):
    result = run(project, "supplier")["supplier"]
    got = read(project, "map_supplier")
    expected = expected_with_pandas()
    unknown = expected.qualification_status == "?"  # V5: its branch's value map does not know `meh`
    ok = expected[~unknown & (expected.supplier_code != "V8")]
    assert got[["_row", "supplier_code", "qualification_status"]].values.tolist() == ok.values.tolist()
    assert result.filtered_by_filter == {"test_vendor": 1}
    assert result.rejected_by_reason == {"unknown_value": 1, "missing_value": 1}
    assert accounted(result)
    bad = rejects(project, "supplier").set_index("_row")
    assert bad.loc[6, "rule"] == "qualification_status.value_map" and bad.loc[6, "value"] == "meh"
    assert bad.loc[9, "reason"] == "missing_value"  # V8: not filtered (no name), then mandatory name


def test_a_branch_failure_counts_only_on_its_rows(tmp_path):
    """The `decimal` branch fails on text; rows another branch took are not rejected for it."""
    rows = [
        {"Code": "A", "Days": "12", "Unit": "d"},
        {"Code": "B", "Days": "x", "Unit": "w"},
        {"Code": "C", "Days": "x", "Unit": "d"},
    ]
    material = {
        "sources": ["things"],
        "columns": {
            "material_code": {"from": "Code"},
            "name": {"from": "Code"},
            "material_type": {"const": "raw"},
            "base_uom": {"const": "kg"},
            "shelf_life_days": {
                "case": [
                    {
                        "when": {"column": "Unit", "equals": "d"},
                        "then": {"from": "Days", "steps": ["integer"]},
                    },
                    {"else": 7},
                ]
            },
        },
    }
    project = build(tmp_path, {"things": rows}, {"material": material})
    result = run(project)["material"]
    got = read(project, "map_material")
    assert got[["material_code", "shelf_life_days"]].values.tolist() == [["A", "12"], ["B", "7"]]
    assert result.rejected_by_reason == {"invalid_number": 1}
    assert (
        rejects(project, "material").message[0] == "Days: 'x' is not a whole number (shelf_life_days.integer)"
    )


def test_negate_when_flips_the_sign_on_its_rows(tmp_path):
    ledger = [
        {"Lot": f"L{i}", "Item": "M001", "Qty": q, "Type": t}
        for i, (q, t) in enumerate(
            [("5", "RCPT"), ("3", "ISSUE"), ("-2", "ISSUE"), ("1.5", "ADJ"), ("", "ISSUE")]
        )
    ]
    lots = {
        "sources": ["ledger"],
        "columns": {
            "lot_no": {"from": "Lot"},
            "material_code": {"from": "Item"},
            "quantity": {
                "from": "Qty",
                "steps": [{"default": 0}, "decimal"],
                "negate_when": {"column": "Type", "equals": "ISSUE"},
            },
            "uom": {"const": "kg"},
            "status": {"const": "released"},
        },
    }
    project = build(tmp_path, {"ledger": ledger}, {"material_lot": lots})
    run(project, "material_lot")
    got = read(project, "map_material_lot").quantity.tolist()
    frame = pd.DataFrame(ledger)
    qty = pd.to_numeric(frame.Qty, errors="coerce").fillna(0)
    expected = qty.where(frame.Type != "ISSUE", -qty)
    assert [float(v) for v in got] == expected.tolist()
    assert got == ["5.000000", "-3.000000", "2.000000", "1.500000", "0.000000"]  # never -0


@pytest.mark.parametrize(
    ("column", "key", "words"),
    [
        (
            {"case": [{"else": "x"}, {"when": {"column": "Flag", "equals": "B"}, "then": "y"}]},
            "columns.qualification_status",
            "only the last",
        ),
        (
            {"case": [{"when": {"column": "Flag"}, "then": "y"}]},
            "columns.qualification_status.case.0.when",
            "exactly one of",
        ),
        (
            {"case": [{"when": {"column": "Flag", "regex": "("}, "then": "y"}]},
            "columns.qualification_status.case.0.when",
            "not a regular expression",
        ),
        (
            {"case": [{"when": {"column": "Gone", "equals": "B"}, "then": "y"}]},
            "columns.qualification_status",
            "no column 'Gone'",
        ),
        (
            {"case": [{"when": {"column": "Flag", "equals": "B"}, "then": {"from": "x", "steps": ["nope"]}}]},
            "columns.qualification_status.case.0.steps.0",
            "unknown transform",
        ),
        (
            {"from": "Flag", "negate_when": {"column": "Flag", "eq": "B"}},
            "columns.qualification_status.negate_when.eq",
            "unknown key 'eq'; the keys allowed here: all, any, column, empty, equals",
        ),
    ],
)
def test_bad_case_names_file_and_key(tmp_path, column, key, words):
    spec = {**SUPPLIER, "columns": {**SUPPLIER["columns"], "qualification_status": column}}
    project = build(tmp_path, {"vendors": VENDORS}, {"supplier": spec})
    with pytest.raises(ConfigError) as caught:
        run(project, "supplier")
    assert (caught.value.file, caught.value.key) == ("mappings/supplier.yaml", key)
    assert words in str(caught.value)
