"""`migrate reconcile` end to end: exit codes, JSON, a formula-safe xlsx, corruption named exactly."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
from sqlalchemy import text
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.db import make_engine
from tests.reconcile.builders import fresh_target, load_target, write_mapped
from tests.reconcile.test_t6_seeded import LOTS, MATERIALS, SUPPLIERS, WORK_ORDERS, seeded_case

runner = CliRunner()


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "reconcile").mkdir(parents=True)
    (root / "project.yaml").write_text(
        "name: t\ntarget: sqlite:///.migrate/target.db\nstaging: sqlite:///.migrate/staging.db\n",
        encoding="utf-8",
    )
    (root / "reconcile" / "material_lot.yaml").write_text(
        "entity: material_lot\ntolerances:\n  quantity: {abs: 0.000001}\n", encoding="utf-8"
    )
    return root


def urls(root: Path) -> tuple[str, str]:
    return f"sqlite:///{root / '.migrate/staging.db'}", f"sqlite:///{root / '.migrate/target.db'}"


def clean_load(root: Path) -> None:
    store_url, target_url = urls(root)
    store, target = make_engine(store_url), fresh_target(target_url)
    for entity, rows in (
        ("supplier", SUPPLIERS),
        ("material", MATERIALS),
        ("material_lot", LOTS),
        ("work_order", WORK_ORDERS),
    ):
        write_mapped(store, entity, rows)
        load_target(target, entity, rows)


def invoke(root: Path, *args: str):
    return runner.invoke(app, ["--project", str(root), *args], catch_exceptions=False)


def test_clean_exits_0_and_corruption_is_named_exactly(tmp_path):
    root = project(tmp_path)
    clean_load(root)
    ok = invoke(root, "--json", "reconcile")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["ok"] is True
    target = make_engine(urls(root)[1])
    with target.begin() as c:  # behind the tool's back
        c.execute(text("UPDATE material_lot SET quantity = '999.000000' WHERE lot_no IN ('L003', 'L008')"))
        c.execute(text("UPDATE supplier SET name = '+1+2' WHERE supplier_code = 'S05'"))
    target.dispose()
    bad = invoke(root, "--json", "reconcile")
    assert bad.exit_code == 1
    data = json.loads(bad.output)
    named = {
        (e["entity"], tuple(d["key"].values()), d["column"])
        for e in data["entities"]
        for d in e["rows"]["details"]
    }
    assert named == {
        ("material_lot", ("L003",), "quantity"),
        ("material_lot", ("L008",), "quantity"),
        ("supplier", ("S05",), "name"),
    }
    lot = next(d for e in data["entities"] for d in e["rows"]["details"] if d["key"] == {"lot_no": "L003"})
    assert lot == {
        "kind": "value",
        "key": {"lot_no": "L003"},
        "column": "quantity",
        "expected": "30.250000",
        "actual": "999.000000",
        "delta": "968.750000",
    }
    material = next(e for e in data["entities"] if e["entity"] == "material")
    assert material["column_types"]["shelf_life_days"] == "int"


def test_xlsx_summary_and_entity_sheets_are_formula_safe(tmp_path):
    root = project(tmp_path)
    clean_load(root)
    target = make_engine(urls(root)[1])
    with target.begin() as c:
        c.execute(text("UPDATE supplier SET name = '@SUM(A1)' WHERE supplier_code = 'S05'"))
        c.execute(text("UPDATE supplier SET name = '-2' WHERE supplier_code = 'S01'"))
    out = tmp_path / "report.xlsx"
    result = invoke(root, "reconcile", "supplier", "material", "--format", "xlsx", "--out", str(out))
    assert result.exit_code == 1, result.output
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Summary", "Control totals", "Traceability", "supplier", "material"]
    summary = list(wb["Summary"].iter_rows(values_only=True))
    top = next(i for i, row in enumerate(summary) if row[0] == "entity")  # below the run's facts
    assert summary[top + 1][:2] == ("supplier", "DIFFERENCES") and summary[top + 2][:2] == ("material", "OK")
    rows = list(wb["supplier"].iter_rows())
    cells = {row[1].value: row for row in rows[1:]}
    assert cells["S05"][3].value == "=HYPERLINK(1)" and cells["S05"][3].data_type == "s"
    assert cells["S05"][4].value == "@SUM(A1)" and cells["S05"][4].data_type == "s"
    assert cells["S01"][4].value == "-2" and cells["S01"][4].data_type == "s"


def test_table_output_and_usage_errors(tmp_path):
    root = project(tmp_path)
    store_url, target_url = urls(root)
    seeded_case(store_url, target_url)
    result = invoke(root, "reconcile", "material_lot")
    assert result.exit_code == 1
    assert "L005" in result.output and "missing in target" in result.output
    assert invoke(root, "reconcile", "--format", "xlsx").exit_code == 2
    unknown = invoke(root, "reconcile", "no_such_entity")
    assert unknown.exit_code == 2 and "unknown entity" in unknown.output
    (root / "reconcile" / "supplier.yaml").write_text(
        "entity: supplier\ncolumns: [name, colour]\n", encoding="utf-8"
    )
    bad_rule = invoke(root, "reconcile", "supplier")
    assert (
        bad_rule.exit_code == 2
        and "reconcile/supplier.yaml" in bad_rule.output
        and "colour" in bad_rule.output
    )
