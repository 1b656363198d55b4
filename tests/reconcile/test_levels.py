"""Row accounting, control totals from the raw staged source, traceability checks."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
from sqlalchemy import text

from migrate.db import make_engine
from migrate.reconcile import ControlTotal, ReconcileSpec, reconcile_with
from migrate.store import WorkStore, normalize_header
from tests.reconcile.builders import fresh_target, load_target, write_mapped
from tests.reconcile.test_t6_seeded import LOTS, MATERIALS, SUPPLIERS

RAW = [  # the legacy ledger as staged: text, units, thousands separators, full-width digits
    ("L001", "M02", "10.25 kg"),
    ("L002", "M03", "20.25kg"),
    ("L003", "M01", "３０.２５ KG"),
    ("L004", "M02", "0,040.25"),
    ("LBAD", "M02", "7 kg"),  # rejected by map (say, unknown_reference): excluded by lineage
]


def staged(store, rows) -> None:
    frame = pd.DataFrame(rows, columns=[normalize_header(h) for h in ("批次号", "物料编码", "数量")])
    frame.insert(0, "_source", "ledger")
    frame.insert(1, "_file", "批次台账.xlsx")
    frame.insert(2, "_sheet", "2024")
    frame.insert(3, "_row", [str(i) for i in range(2, len(rows) + 2)])
    frame.insert(4, "_run", "1")
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="_row_id")
    frame.to_sql("stg_ledger", store, if_exists="replace")


def setup(tmp_path, target_url, lots=LOTS[:4], run=(5, 4, 1, 0), rejects=1):
    store = make_engine(f"sqlite:///{tmp_path / 'staging.db'}")
    target = fresh_target(target_url)
    for entity, rows in (("supplier", SUPPLIERS), ("material", MATERIALS), ("material_lot", lots)):
        write_mapped(store, entity, rows, source="ledger")
        load_target(target, entity, rows)
    staged(store, RAW)
    details = json.dumps({"rejected_by_reason": {"unknown_reference": run[2]}, "filtered_by_filter": {}})
    pd.DataFrame(
        [
            {
                "entity": "material_lot",
                "run_at": "2024-05-01T00:00:00+00:00",
                "source_rows": run[0],
                "mapped": run[1],
                "rejected": run[2],
                "filtered": run[3],
                "details": details,
            }
        ]
    ).to_sql("map_runs", store, index=False)
    pd.DataFrame(
        [
            {
                "_row_id": 1,
                "entity": "material_lot",
                "_source": "ledger",
                "_file": "批次台账.xlsx",
                "_sheet": "2024",
                "_row": "6",
                "reason": "unknown_reference",
                "rule": "material_code",
                "column": "物料编码",
                "value": "M02",
                "message": "...",
            }
        ][:rejects]
    ).to_sql("map_rejects", store, index=False)
    return WorkStore(store), target


QTY = ControlTotal(
    name="quantity by material",
    source="ledger",
    source_column="数量",
    target_column="quantity",
    group_by_source="物料编码",
    group_by_target="material_code",
    parse={"strip_suffix": ["kg"]},
)
COUNT = ControlTotal(name="lots", source="ledger", aggregate="count")


def test_accounting_and_totals_add_up(tmp_path, target_url):
    store, target = setup(tmp_path, target_url)
    spec = ReconcileSpec(entity="material_lot", control_totals=(QTY, COUNT))
    report = reconcile_with(store, target, [spec])
    lots = report.entities[0]
    assert lots.accounting.to_dict() | {} == {
        "recorded": True,
        "adds_up": True,
        "source_rows": 5,
        "mapped": 4,
        "rejected": 1,
        "rejected_by_reason": {"unknown_reference": 1},
        "filtered": 0,
        "filtered_by_filter": {},
        "rejects_listed": 1,
        "mapped_rows_staged": 4,
        "loaded": 4,
        "in_target": 4,
    }
    qty, count = lots.totals
    assert qty.groups == {
        "M01": (Decimal("30.25"), Decimal("30.25")),
        "M02": (Decimal("50.50"), Decimal("50.50")),
        "M03": (Decimal("20.25"), Decimal("20.25")),
    }
    assert qty.ok and qty.excluded_rejected == 1 and count.ok
    assert report.ok


def test_a_mapping_bug_shows_in_the_control_total(tmp_path, target_url):
    store, target = setup(tmp_path, target_url)
    with target.begin() as c:  # as if map had read 0,040.25 as 0.04025 and loaded it
        c.execute(
            text("UPDATE material_lot SET quantity = :q WHERE lot_no = 'L004'"),
            {"q": "0.040250" if target.dialect.name == "sqlite" else Decimal("0.04025")},
        )
    with store.engine.begin() as c:  # ... and the mapped row said so too: row level cannot see it
        c.execute(text("UPDATE map_material_lot SET quantity = '0.040250' WHERE lot_no = 'L004'"))
    report = reconcile_with(store, target, [ReconcileSpec(entity="material_lot", control_totals=(QTY,))])
    lots = report.entities[0]
    assert lots.rows.ok
    total = lots.totals[0].to_dict()
    assert total["differences"] == [
        {"group": "M02", "source": "50.50", "target": "10.290250", "difference": "-40.209750"}
    ]
    assert not report.ok


def test_accounting_that_does_not_add_up_and_unparsed_cells(tmp_path, target_url):
    store, target = setup(tmp_path, target_url, run=(6, 4, 1, 0))  # one source row unaccounted for
    staged(store.engine, [*RAW, ("L005", "M01", "n/a")])
    report = reconcile_with(store, target, [ReconcileSpec(entity="material_lot", control_totals=(QTY,))])
    lots = report.entities[0]
    assert not lots.accounting.adds_up
    assert lots.totals[0].unparsed_rows == 1
    assert lots.totals[0].unparsed_examples == [
        {"file": "批次台账.xlsx", "sheet": "2024", "row": "7", "value": "n/a"}
    ]
    assert not lots.ok


def test_traceability_names_new_breaks_only(tmp_path, target_url):
    store, target = setup(tmp_path, target_url)
    # mapped side: L001 and L002 received; L003 released but never inspected (the source's own gap)
    moves = [
        {
            "movement_no": f"MV{i}",
            "lot_no": lot,
            "movement_type": "receipt",
            "quantity": "1.000000",
            "uom": "kg",
            "warehouse": "WH0",
            "moved_at": "2024-01-10T00:00:00+00:00",
            "reference": None,
        }
        for i, lot in enumerate(["L001", "L002", "L003", "L004"])
    ]
    inspections = [
        {
            "inspection_no": f"QI{i}",
            "lot_no": lot,
            "inspection_type": "incoming",
            "characteristic": "moisture",
            "measured_value": "0.100000",
            "uom": "%",
            "result": "pass",
            "inspector": "li",
            "inspected_at": "2024-01-11T00:00:00+00:00",
            "disposition": "accepted",
        }
        for i, lot in enumerate(["L001", "L002", "L004"])
    ]
    write_mapped(store.engine, "inventory_movement", moves)
    write_mapped(store.engine, "quality_inspection", inspections)
    write_mapped(store.engine, "lot_genealogy", [])
    load_target(target, "inventory_movement", [m for m in moves if m["lot_no"] != "L002"])  # lost in the load
    load_target(target, "quality_inspection", inspections)
    specs = [ReconcileSpec(entity=e) for e in ("material_lot", "inventory_movement", "quality_inspection")]
    checks = {t.name: t.to_dict() for t in reconcile_with(store, target, specs).traceability}
    assert checks["lot_origin"]["new_in_target"] == [{"lot_no": "L002"}]
    assert checks["released_inspected"]["breaks_in_source"] == 1
    assert checks["released_inspected"]["ok"] and checks["released_inspected"]["new_in_target"] == []
    assert checks["released_inspected"]["source_breaks_absent_in_target"] == []
    assert not checks["genealogy_links"]["applicable"] if "genealogy_links" in checks else True


def test_every_reference_rule_file_parses_and_names_real_columns():
    from pathlib import Path

    from migrate.model import ENTITIES
    from migrate.project import Project
    from migrate.reconcile.spec import load_spec, rule_files

    root = Path(__file__).resolve().parents[2]
    files = rule_files(root)
    assert sorted(p.stem for p in files) == sorted(ENTITIES)
    for path in files:
        spec = load_spec(Project(root), path.stem)
        assert spec.control_totals, path
        assert spec.compared_columns
