"""Reshaping before mapping: `unpivot` (columns -> rows), `number_within` (a row number
within a group), `aggregate` (exact sums by keys); checked against pandas."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from migrate.errors import ConfigError
from tests.map.estate import accounted, build, read, rejects, run

ORDERS = [{"Ord": "W1", "Item": "M001", "Qty": "10"}, {"Ord": "W2", "Item": "M002", "Qty": "5"}]
WORK_ORDER = {
    "sources": ["orders"],
    "columns": {
        "work_order_no": {"from": "Ord"},
        "material_code": {"from": "Item"},
        "planned_qty": {"from": "Qty"},
        "uom": {"const": "pcs"},
        "status": {"const": "closed"},
    },
}
ROUTING = [
    {"Ord": "W1", "Step": "10", "Machine": "E1", "At": "2024-03-01 08:00:00", "Setup": "0.5", "Run": "2.25"},
    {"Ord": "W1", "Step": "20", "Machine": "E1", "At": "2024-03-01 12:00:00", "Setup": "", "Run": "1"},
    {"Ord": "W2", "Step": "10", "Machine": "E1", "At": "2024-03-02 08:00:00", "Setup": "x", "Run": "3"},
    {"Ord": "W9", "Step": "10", "Machine": "E1", "At": "2024-03-02 09:00:00", "Setup": "1", "Run": "1"},
]
PARAMETERS = {
    "sources": [
        {
            "source": "routing",
            "unpivot": {
                "columns": {"Setup": "setup_hours", "Run": "run_hours"},
                "name": "Measure",
                "value": "Amount",
            },
        }
    ],
    "columns": {
        "work_order_no": {"from": "Ord"},
        "equipment_code": {"from": "Machine"},
        "parameter": {"from": "Measure"},
        "recorded_at": {"from": "At"},
        "value": {"from": "Amount"},
        "uom": {"const": "h"},
    },
}


def test_unpivot_against_pandas(tmp_path):
    project = build(
        tmp_path,
        {"orders": ORDERS, "routing": ROUTING},
        {"work_order": WORK_ORDER, "process_parameter": PARAMETERS},
    )
    result = run(project, "work_order", "process_parameter")["process_parameter"]
    frame = (
        pd.DataFrame(ROUTING)
        .assign(_row=range(2, 6))
        .rename(columns={"Setup": "setup_hours", "Run": "run_hours"})
    )
    long = frame.melt(id_vars=["_row", "Ord"], value_vars=["setup_hours", "run_hours"], var_name="parameter")
    long = long.sort_values(["_row"], kind="stable").query("value != ''")
    got = read(project, "map_process_parameter")
    ok = long[long.Ord.isin(["W1", "W2"]) & (long.value != "x")]
    assert got[["_row", "parameter"]].values.tolist() == ok[["_row", "parameter"]].values.tolist()
    assert [Decimal(v) for v in got.value] == [Decimal(v) for v in ok.value]
    # 4 source rows -> 8 rows: one empty (filtered), 'x' not a number, W9 unknown (2 rows)
    (share,) = result.by_source
    assert (share.read, share.rows, share.mapped, share.rejected, share.filtered) == (4, 8, 4, 3, 1)
    assert result.filtered_by_filter == {"unpivot_empty": 1} and accounted(result)
    bad = rejects(project, "process_parameter")
    assert bad[["_row", "reason"]].values.tolist() == [
        [4, "invalid_number"],
        [5, "unknown_reference"],
        [5, "unknown_reference"],
    ]
    assert bad.value[0] == "x"  # the unpivoted cell, with its source row's lineage


def test_number_within_against_pandas(tmp_path):
    """Line numbers within each shipment, ordered by the position text, then source order."""
    lots = {
        "sources": ["lotlist"],
        "columns": {
            "lot_no": {"from": "Lot"},
            "material_code": {"const": "M001"},
            "quantity": {"const": 1},
            "uom": {"const": "kg"},
            "status": {"const": "released"},
        },
    }
    lines = [
        {"Ship": "S1", "Pos": "b", "Lot": "L1", "Qty": "1"},
        {"Ship": "S2", "Pos": "a", "Lot": "L1", "Qty": "2"},
        {"Ship": "S1", "Pos": "a", "Lot": "L2", "Qty": "3"},
        {"Ship": " S1", "Pos": "c", "Lot": "L2", "Qty": "4"},  # the group key is trimmed
        {"Ship": "S2", "Pos": "a", "Lot": "L2", "Qty": "5"},  # a tie: source order
    ]
    shipment = {
        "sources": [
            {"source": "lines", "number_within": {"name": "LineNo", "group": "Ship", "order_by": ["Pos"]}}
        ],
        "columns": {
            "shipment_no": {"from": "Ship", "steps": ["trim"]},
            "line_no": {"from": "LineNo"},
            "customer_code": {"const": "C1"},
            "lot_no": {"from": "Lot"},
            "quantity": {"from": "Qty"},
            "uom": {"const": "kg"},
            "shipped_at": {"const": "2024-03-01 10:00:00"},
        },
    }
    project = build(
        tmp_path,
        {"lotlist": [{"Lot": "L1"}, {"Lot": "L2"}], "lines": lines},
        {"material_lot": lots, "shipment": shipment},
    )
    result = run(project, "material_lot", "shipment")["shipment"]
    frame = pd.DataFrame(lines).assign(Ship=lambda f: f.Ship.str.strip(), _row=range(2, 7))
    frame["line_no"] = frame.sort_values(["Pos", "_row"]).groupby("Ship").cumcount() + 1
    got = read(project, "map_shipment")
    assert (
        got[["_row", "shipment_no", "line_no"]].values.tolist()
        == frame[["_row", "Ship", "line_no"]]
        .astype(str)
        .astype(object)
        .assign(_row=frame._row)
        .values.tolist()
    )
    assert result.mapped == 5 and accounted(result)


def test_aggregate_against_pandas_in_small_chunks(tmp_path):
    """On-hand stock: a ledger summed by lot and item, exactly, across chunks of 3 rows."""
    ledger = [
        {"Lot": f"L{i % 4}", "Item": "M001" if i % 4 else "M002", "Qty": q}
        for i, q in enumerate(
            ["1.1", "2.2", "-0.3", "4", "0.000001", "1e3", "7", "x", "9.999999", "1,000.5", "2", ""]
        )
    ]
    lots = {
        "sources": [
            {"source": "ledger", "aggregate": {"by": ["Lot", "Item"], "sum": ["Qty"], "count": "Moves"}}
        ],
        "columns": {
            "lot_no": {"from": "Lot"},
            "material_code": {"from": "Item"},
            "quantity": {"from": "Qty"},
            "uom": {"const": "kg"},
            "status": {"const": "released"},
            "warehouse": {"from": "Moves"},  # the count, to check it
        },
    }
    project = build(tmp_path, {"ledger": ledger}, {"material_lot": lots})
    text = (project.root / "project.yaml").read_text()
    (project.root / "project.yaml").write_text(text + "defaults: {chunk_size: 3}\n")
    result = run(type(project)(project.root), "material_lot")["material_lot"]
    frame = pd.DataFrame(ledger).assign(_row=range(2, 14))
    frame["n"] = frame.Qty.str.replace(",", "").map(lambda v: Decimal(v) if v and v != "x" else None)
    good = frame[frame.n.notna() | (frame.Qty == "")]
    sums = good.groupby(["Lot", "Item"], sort=False).agg(
        n=("n", lambda s: sum(v for v in s if v is not None)), moves=("n", "size"), first=("_row", "min")
    )
    got = read(project, "map_material_lot").set_index("lot_no")
    assert sorted(got.index) == sorted(sums.index.get_level_values(0))
    for (lot, _item), row in sums.iterrows():
        assert Decimal(got.loc[lot, "quantity"]) == row.n
        assert got.loc[lot, "warehouse"] == str(row.moves) and got.loc[lot, "_row"] == row["first"]
    assert rejects(project, "material_lot")[["_row", "reason", "value"]].values.tolist() == [
        [9, "invalid_number", "x"]
    ]
    (share,) = result.by_source
    assert (share.read, share.rows, share.mapped, share.rejected) == (12, 5, 4, 1)
    assert accounted(result)


@pytest.mark.parametrize(
    ("block", "key", "words"),
    [
        (
            {"unpivot": {"columns": {"Nope": "x"}, "name": "Measure", "value": "Amount"}},
            "sources.0.unpivot.columns",
            "no column 'Nope'",
        ),
        ({"aggregate": {"by": ["Ord"]}}, "sources.0.aggregate", "needs `sum`"),
        ({"aggregate": {"by": ["Ord"], "sum": ["Setup"]}}, "sources.0.aggregate", "does not keep"),
        (
            {**PARAMETERS["sources"][0], "number_within": {"name": "n", "group": ["Nope"]}},
            "sources.0.number_within",
            "no column 'Nope'",
        ),
    ],
)
def test_bad_reshape_names_file_and_key(tmp_path, block, key, words):
    spec = {**PARAMETERS, "sources": [{"source": "routing", **block}]}
    project = build(
        tmp_path,
        {"orders": ORDERS, "routing": ROUTING},
        {"work_order": WORK_ORDER, "process_parameter": spec},
    )
    with pytest.raises(ConfigError) as caught:
        run(project, "work_order", "process_parameter")
    assert (caught.value.file, caught.value.key) == ("mappings/process_parameter.yaml", key)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    "hostile", ['Ord"; DROP TABLE "stg_routing"; --', "Ord' OR '1'='1", "Ｏｒｄ\u200b", "x" * 64]
)
def test_hostile_identifiers_are_refused_before_any_sql(tmp_path, hostile):
    block = {
        **PARAMETERS["sources"][0],
        "number_within": {"name": "n", "group": [hostile], "order_by": [hostile]},
    }
    spec = {**PARAMETERS, "sources": [block]}
    project = build(
        tmp_path,
        {"orders": ORDERS, "routing": ROUTING},
        {"work_order": WORK_ORDER, "process_parameter": spec},
    )
    with pytest.raises(ConfigError) as caught:
        run(project, "work_order", "process_parameter")
    assert caught.value.key == "sources.0.number_within" and "has no column" in str(caught.value)
    assert len(read(project, "stg_routing")) == len(ROUTING)  # the staged table is intact


def test_aggregate_where_every_row_is_refused(tmp_path):
    lots = {
        "sources": [{"source": "ledger", "aggregate": {"by": ["Lot"], "sum": ["Qty"]}}],
        "columns": {
            "lot_no": {"from": "Lot"},
            "material_code": {"const": "M001"},
            "quantity": {"from": "Qty"},
            "uom": {"const": "kg"},
            "status": {"const": "released"},
        },
    }
    project = build(tmp_path, {"ledger": [{"Lot": "L1", "Qty": "x"}]}, {"material_lot": lots})
    result = run(project, "material_lot")["material_lot"]
    assert (result.source_rows, result.mapped, result.rejected) == (1, 0, 1) and accounted(result)
