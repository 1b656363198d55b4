"""T6: every seeded difference found with its key, nothing else; tolerances just inside and
outside; the same JSON from SQLite and PostgreSQL targets."""

from __future__ import annotations

import copy
import json
import random

import pytest

from migrate.db import make_engine
from migrate.reconcile import ReconcileSpec, Tolerance, reconcile_with
from migrate.store import WorkStore
from tests.reconcile.builders import fresh_target, load_target, write_mapped

SUPPLIERS = [
    {"supplier_code": f"S0{i}", "name": name, "country": "CN", "qualification_status": "approved"}
    for i, name in enumerate(["Acme Steel", "Beta Corp", "Gamma Chem", "Delta Pack", "=HYPERLINK(1)"], 1)
]
MATERIALS = [
    {
        "material_code": f"M0{i}",
        "name": f"material {i}",
        "spec": None,
        "material_type": "raw",
        "base_uom": "kg",
        "shelf_life_days": "365",
    }
    for i in range(1, 4)
]
LOTS = [
    {
        "lot_no": f"L{i:03d}",
        "material_code": f"M0{i % 3 + 1}",
        "supplier_code": f"S0{i % 4 + 1}",
        "supplier_lot_no": f"SL-{i}",
        "quantity": f"{i * 10}.250000",
        "uom": "kg",
        "manufactured_on": "2024-01-05",
        "received_on": "2024-01-10",
        "expires_on": "2025-01-05",
        "status": "released",
        "warehouse": f"WH{i % 2}",
    }
    for i in range(1, 17)
]
LOTS[10]["supplier_lot_no"] = None  # L011: no supplier lot number
WORK_ORDERS = [
    {
        "work_order_no": f"W0{i}",
        "material_code": "M01",
        "planned_qty": "100.000000",
        "actual_qty": "99.500000",
        "uom": "kg",
        "line": "A",
        "status": "completed",
        "started_at": f"2024-03-0{i}T00:30:00+00:00",
        "finished_at": f"2024-03-0{i}T08:30:00.250000+00:00",
    }
    for i in range(1, 6)
]


def _by(rows, column, value):
    return next(r for r in rows if r[column] == value)


def seeded_case(store_url: str, target_url: str) -> None:
    """Expected (mapped) rows = the truth; the target = the truth with every kind of difference."""
    store = make_engine(store_url)
    expected = {"supplier": SUPPLIERS, "material": MATERIALS, "material_lot": LOTS, "work_order": WORK_ORDERS}
    actual = copy.deepcopy(expected)
    lots, sups, wos = actual["material_lot"], actual["supplier"], actual["work_order"]
    lots.remove(_by(lots, "lot_no", "L005"))  # missing in the target
    expected["material_lot"] = [*LOTS, dict(_by(LOTS, "lot_no", "L006"))]  # duplicate in the mapped rows
    _by(lots, "lot_no", "L007")["quantity"] = "70.250001"  # decimal off by 1e-6
    _by(lots, "lot_no", "L014")["quantity"] = "140.250002"  # off by 2e-6
    a, b = _by(lots, "lot_no", "L009"), _by(lots, "lot_no", "L010")
    a["warehouse"], b["warehouse"] = b["warehouse"], a["warehouse"]  # swapped values
    _by(sups, "supplier_code", "S01")["name"] = "Acme Steel "  # trailing space
    _by(sups, "supplier_code", "S03")["name"] = "Gamma\u00a0Chem"  # NBSP
    _by(lots, "lot_no", "L011")["supplier_lot_no"] = ""  # NULL vs '' (L011 has none in the truth)
    _by(wos, "work_order_no", "W02")["started_at"] = "2024-03-02T08:30:00+00:00"  # timezone shift (+8 h)
    _by(wos, "work_order_no", "W03")["started_at"] = "2024-03-03T00:30:01+00:00"  # 1 s late
    _by(wos, "work_order_no", "W04")["started_at"] = "2024-03-04T00:30:02+00:00"  # 2 s late
    _by(lots, "lot_no", "L012")["material_code"] = "M03"  # wrong parent (was M01)
    _by(sups, "supplier_code", "S02")["name"] = "BETA CORP"  # case change
    lots.append({**LOTS[0], "lot_no": "L099"})  # a row only in the target
    target = fresh_target(target_url)
    for entity in ("supplier", "material", "material_lot", "work_order"):
        rows = list(expected[entity])
        random.Random(7).shuffle(rows)  # shuffled order on both sides
        write_mapped(store, entity, rows)
        shuffled = list(actual[entity])
        random.Random(11).shuffle(shuffled)
        load_target(target, entity, shuffled)
    store.dispose()
    target.dispose()


EXACT = [ReconcileSpec(entity=e) for e in ("supplier", "material", "material_lot", "work_order")]


def run(store_url: str, target_url: str, specs=EXACT, method="rows") -> dict:
    store, target = WorkStore(store_url), make_engine(target_url)
    try:
        # small chunks: many aligned chunk pairs (rows) or many segment batches (pushdown)
        report = reconcile_with(store, target, specs, chunk_size=4, method=method)
    finally:
        store.dispose()
        target.dispose()
    data = report.to_dict()
    data.pop("run")
    return data


def found(data: dict) -> set[tuple]:
    out = set()
    for entity in data["entities"]:
        for d in entity["rows"]["details"]:
            key = tuple(d["key"].values())
            out.add(
                (entity["entity"], d["kind"], key, d.get("column") if d["kind"] != "duplicate" else d["side"])
            )
    return out


SEEDED = {
    ("material_lot", "missing", ("L005",), None),
    ("material_lot", "duplicate", ("L006",), "expected"),
    ("material_lot", "missing", ("L006",), None),  # the duplicate's second row has no partner
    ("material_lot", "value", ("L007",), "quantity"),
    ("material_lot", "value", ("L014",), "quantity"),
    ("material_lot", "value", ("L009",), "warehouse"),
    ("material_lot", "value", ("L010",), "warehouse"),
    ("supplier", "value", ("S01",), "name"),
    ("supplier", "value", ("S03",), "name"),
    ("material_lot", "value", ("L011",), "supplier_lot_no"),
    ("work_order", "value", ("W02",), "started_at"),
    ("work_order", "value", ("W03",), "started_at"),
    ("work_order", "value", ("W04",), "started_at"),
    ("material_lot", "value", ("L012",), "material_code"),
    ("supplier", "value", ("S02",), "name"),
    ("material_lot", "only_in_target", ("L099",), None),
}


@pytest.mark.parametrize("method", ["rows", "pushdown"])
def test_every_seeded_difference_and_nothing_else(tmp_path, target_url, method):
    store_url = f"sqlite:///{tmp_path / 'staging.db'}"
    seeded_case(store_url, target_url)
    data = run(store_url, target_url, method=method)
    assert found(data) == SEEDED
    assert data["ok"] is False
    lots = next(e for e in data["entities"] if e["entity"] == "material_lot")["rows"]
    assert (lots["missing"], lots["only_in_target"], lots["duplicate_keys_expected"]) == (2, 1, 1)
    assert lots["unequal_by_column"]["quantity"] == 2 and lots["unequal_rows"] == 6
    details = {(d["key"]["lot_no"], d.get("column")): d for d in lots["details"] if d["kind"] == "value"}
    assert details[("L007", "quantity")] | {} == {
        "kind": "value",
        "key": {"lot_no": "L007"},
        "column": "quantity",
        "expected": "70.250000",
        "actual": "70.250001",
        "delta": "0.000001",
    }
    assert details[("L011", "supplier_lot_no")]["expected"] is None
    assert details[("L011", "supplier_lot_no")]["actual"] == ""
    wo = next(e for e in data["entities"] if e["entity"] == "work_order")["rows"]
    shift = next(d for d in wo["details"] if d["key"]["work_order_no"] == "W02")
    assert shift["delta"] == 8 * 3600.0
    material = next(e for e in data["entities"] if e["entity"] == "material")
    assert material["ok"] and material["rows"]["matched_rows"] == 3


def test_tolerances_and_normalisations_just_inside_and_outside(tmp_path, target_url):
    store_url = f"sqlite:///{tmp_path / 'staging.db'}"
    seeded_case(store_url, target_url)
    specs = [
        ReconcileSpec(entity="supplier", normalize={"name": ("nbsp", "trim")}),
        ReconcileSpec(entity="material_lot", tolerances={"quantity": Tolerance(abs="0.000001")}),
        ReconcileSpec(entity="work_order", tolerances={"started_at": Tolerance(seconds=1)}),
    ]
    got = found(run(store_url, target_url, specs))
    inside = {
        ("supplier", "value", ("S01",), "name"),  # trailing space trimmed
        ("supplier", "value", ("S03",), "name"),  # NBSP folded
        ("material_lot", "value", ("L007",), "quantity"),  # 1e-6 <= 1e-6
        ("work_order", "value", ("W03",), "started_at"),  # 1 s <= 1 s
    }
    assert got == SEEDED - inside
    assert ("material_lot", "value", ("L014",), "quantity") in got  # 2e-6 > 1e-6
    assert ("work_order", "value", ("W04",), "started_at") in got  # 2 s > 1 s
    assert ("supplier", "value", ("S02",), "name") in got  # case still differs: no `case` rule


def test_case_rule_folds_case(tmp_path, sqlite_url):
    store_url = f"sqlite:///{tmp_path / 'staging.db'}"
    seeded_case(store_url, sqlite_url)
    got = found(
        run(
            store_url,
            sqlite_url,
            [ReconcileSpec(entity="supplier", normalize={"*": ("case", "trim", "nbsp")})],
        )
    )
    assert got == set()


@pytest.mark.postgres
@pytest.mark.parametrize("method", ["rows", "pushdown"])
def test_same_json_from_sqlite_and_postgresql(tmp_path, sqlite_url, pg_url, method):
    reports = []
    for name, url in (("lite", sqlite_url), ("pg", pg_url)):
        store_url = f"sqlite:///{tmp_path / f'staging-{name}.db'}"
        seeded_case(store_url, url)
        reports.append(json.dumps(run(store_url, url, method=method), sort_keys=True, ensure_ascii=False))
    assert reports[0] == reports[1]
