"""`lookup` (in a source or an entity, one or more keys, default or reject) and `first_of`,
checked against the same result computed with pandas merges."""

from __future__ import annotations

import pandas as pd
import pytest

from migrate.errors import ConfigError
from tests.map.estate import ITEMS, accounted, build, read, rejects, run

LOTS = [
    {"Lot": "L1", "ItemId": "1", "ItemNo": "M001", "Qty": "5", "Plant": "P1", "Bin": "A"},
    {"Lot": "L2", "ItemId": " 2 ", "ItemNo": "M002", "Qty": "6", "Plant": "P1", "Bin": "B"},
    {"Lot": "L3", "ItemId": "9", "ItemNo": "M001", "Qty": "7", "Plant": "P2", "Bin": "A"},
    {"Lot": "L4", "ItemId": "", "ItemNo": "M001", "Qty": "8", "Plant": "P9", "Bin": "Z"},
    {"Lot": "L5", "ItemId": "4", "ItemNo": "M009", "Qty": "9", "Plant": "P2", "Bin": "A"},
]
SITES = [  # two keys; (P2, A) twice with the same value is not ambiguous
    {"Plant": "P1", "Bin": "A", "Warehouse": "WH-1A"},
    {"Plant": "P1", "Bin": "B", "Warehouse": "WH-1B"},
    {"Plant": "P2", "Bin": "A", "Warehouse": "WH-2A"},
    {"Plant": "P2", "Bin": "A", "Warehouse": "WH-2A"},
]
EXTRA_ITEMS = [{"ItemId": "4", "ItemNo": "M001", "ItemName": "again"}]  # id 4: M001 (a second id for it)
LOT_MAPPING = {
    "sources": ["lots"],
    "columns": {
        "lot_no": {"from": "Lot"},
        "material_code": {"lookup": {"source": "item_ids", "on": {"ItemId": "ItemId"}, "take": "ItemNo"}},
        "quantity": {"from": "Qty"},
        "uom": {"lookup": {"entity": "material", "on": {"material_code": "ItemNo"}, "take": "base_uom"}},
        "status": {"const": "released"},
        "warehouse": {
            "lookup": {
                "source": "sites",
                "on": {"Plant": "Plant", "Bin": "Bin"},
                "take": "Warehouse",
                "default": "MAIN",
            }
        },
    },
}


@pytest.fixture
def project(tmp_path):
    return build(
        tmp_path,
        {"lots": LOTS, "sites": SITES, "item_ids": ITEMS + EXTRA_ITEMS},
        {"material_lot": LOT_MAPPING},
    )


def expected_with_pandas() -> pd.DataFrame:
    lots = pd.DataFrame(LOTS).assign(
        _row=range(2, 7), ItemId=lambda f: f.ItemId.str.strip().replace("", None)
    )
    items = pd.DataFrame(ITEMS + EXTRA_ITEMS)[["ItemId", "ItemNo"]].rename(
        columns={"ItemNo": "material_code"}
    )
    out = lots.merge(items, how="left", on="ItemId")
    sites = pd.DataFrame(SITES).drop_duplicates()
    out = out.merge(sites, how="left", on=["Plant", "Bin"])
    out["warehouse"] = out.Warehouse.fillna("MAIN")
    out = out[out.material_code.notna()]  # not found (L3) or no key (L4)
    # every lot's ItemNo is a material mapped with base_uom kg, except M009
    out = out[out.ItemNo.isin(["M001", "M002", "M003"])]
    return pd.DataFrame(
        {
            "_row": out._row,
            "lot_no": out.Lot,
            "material_code": out.material_code,
            "uom": "kg",
            "warehouse": out.warehouse,
        }
    ).reset_index(drop=True)


def test_lookups_against_pandas(project):
    result = run(project, "material_lot")["material_lot"]
    got = read(project, "map_material_lot")[["_row", "lot_no", "material_code", "uom", "warehouse"]]
    pd.testing.assert_frame_equal(got.astype(object), expected_with_pandas().astype(object))
    assert accounted(result) and result.mapped == 2


def test_lookup_rejects_name_the_key_and_the_side(project):
    run(project, "material_lot")
    bad = rejects(project, "material_lot").set_index("_row")
    assert bad.loc[4, ["reason", "rule", "column", "value"]].tolist() == [
        "unknown_reference",
        "material_code.lookup",
        "material_code",
        "9",
    ]
    assert bad.loc[4, "message"] == "ItemId '9' is not in item_ids"
    assert bad.loc[5, "reason"] == "missing_value"  # no key, no value: the mandatory column is empty
    assert bad.loc[6, "message"] == "ItemNo 'M009' is not in material"  # looked up in the mapped entity
    assert (bad["_source"] == "lots").all() and (bad["_file"] == "lots.csv").all()


def test_ambiguous_key_is_rejected_not_guessed(tmp_path):
    items = ITEMS + [{"ItemId": "1", "ItemNo": "M002", "ItemName": "clash"}]
    project = build(
        tmp_path, {"lots": LOTS[:2], "sites": SITES, "item_ids": items}, {"material_lot": LOT_MAPPING}
    )
    result = run(project, "material_lot")["material_lot"]
    assert result.mapped == 1  # L2 (id 2) is not ambiguous
    bad = rejects(project, "material_lot")
    assert bad.message.tolist() == ["ItemId '1' matches several rows of item_ids with different ItemNo"]


def test_first_of_takes_the_first_alternative_with_a_value(tmp_path):
    """A name from whichever of two places has it, else a constant; the order counts."""
    names = [{"Id": "1", "Text": "Stahl"}, {"Id": "3", "Text": "Schraube"}]
    material = {
        "sources": ["items"],
        "columns": {
            "material_code": {"from": "ItemNo"},
            "name": {
                "first_of": [
                    {"from": "ItemName", "steps": [{"null_if": "Steel"}]},
                    {"lookup": {"source": "names", "on": {"Id": "ItemId"}, "take": "Text"}},
                    {"const": "(unnamed)"},
                ]
            },
            "spec": {"first_of": ["Spec", {"from": "ItemName", "steps": ["decimal"]}]},
            "material_type": {"const": "raw"},
            "base_uom": {"const": "kg"},
        },
    }
    items = [{**row, "Spec": "" if row["ItemId"] == "2" else "S"} for row in ITEMS]
    project = build(tmp_path, {"items": items, "names": names}, {"material": material})
    result = run(project)["material"]
    got = read(project, "map_material")
    frame = pd.DataFrame(items).replace("", None)
    looked = frame.merge(pd.DataFrame(names), how="left", left_on="ItemId", right_on="Id")
    expected = looked.ItemName.mask(looked.ItemName == "Steel").fillna(looked.Text).fillna("(unnamed)")
    assert expected.tolist() == ["Stahl", "Screw", "Schraube"]
    assert got.name.tolist() == expected[[0, 2]].tolist()
    # spec: M002 has none and falls to `ItemName` as a decimal, which fails there; the others'
    # `ItemName` is no number either, but their Spec came first: an alternative's failure
    # counts only where no alternative gave a value
    assert got.spec.tolist() == ["S", "S"]
    assert result.mapped == 2 and result.rejected_by_reason == {"invalid_number": 1}
    assert set(rejects(project, "material").rule) == {"spec.decimal"}


@pytest.mark.parametrize(
    ("lookup", "key", "words"),
    [
        (
            {"source": "ghost", "on": "ItemId", "take": "ItemNo"},
            "columns.material_code.lookup.source",
            "not declared",
        ),
        (
            {"source": "item_ids", "on": {"Nope": "ItemId"}, "take": "ItemNo"},
            "columns.material_code.lookup",
            "no column 'Nope'",
        ),
        (
            {"source": "item_ids", "on": "ItemId", "take": "Gone"},
            "columns.material_code.lookup",
            "no column 'Gone'",
        ),
        (
            {"entity": "material", "on": {"nope": "ItemNo"}, "take": "name"},
            "columns.material_code.lookup",
            "no column 'nope'",
        ),
        (
            {"source": "items", "entity": "material", "on": "x", "take": "y"},
            "columns.material_code.lookup",
            "exactly one",
        ),
    ],
)
def test_bad_lookup_names_file_and_key(tmp_path, lookup, key, words):
    mapping = {**LOT_MAPPING, "columns": {**LOT_MAPPING["columns"], "material_code": {"lookup": lookup}}}
    project = build(tmp_path, {"lots": LOTS, "sites": SITES, "item_ids": ITEMS}, {"material_lot": mapping})
    with pytest.raises(ConfigError) as caught:
        run(project, "material_lot")
    assert (caught.value.file, caught.value.key) == ("mappings/material_lot.yaml", key)
    assert words in str(caught.value)


def test_bare_on_key_in_yaml_is_read_as_on(tmp_path):
    """YAML 1.1 reads a bare `on:` as the boolean true; a mapping written by hand says `on:`."""
    from tests.map.helpers import write_mapping

    project = build(tmp_path, {"lots": LOTS, "sites": SITES, "item_ids": ITEMS + EXTRA_ITEMS}, {})
    text = """
sources: [lots]
columns:
  lot_no: {from: Lot}
  material_code: {lookup: {source: item_ids, on: {ItemId: ItemId}, take: ItemNo}}
  quantity: {from: Qty}
  uom: {const: kg}
  status: {const: released}
"""
    write_mapping(project.root, "material_lot", text)
    result = run(project, "material_lot")["material_lot"]
    assert result.mapped == 3 and result.rejected_by_reason == {"unknown_reference": 1, "missing_value": 1}
