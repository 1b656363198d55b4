"""The reference project end to end: after a clean load reconcile passes and accounts for every
source row; after rows are changed behind the tool's back it fails and names exactly those rows."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.db import make_engine
from migrate.demo import run_demo
from migrate.project import Project


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference") / "project"
    return run_demo(root, rows=500)


def test_clean_load_reconciles_and_accounts_for_every_source_row(demo):
    report = demo.reconciled
    assert report.ok, [e.entity for e in report.entities if not e.ok]
    assert len(report.entities) == 12
    for e in report.entities:
        a = e.accounting
        assert a.recorded and a.source_rows == a.mapped + a.rejected + a.filtered
        assert a.loaded == a.mapped == a.in_target, e.entity
        assert e.totals and all(t.ok for t in e.totals), e.entity
    assert all(t.applicable and t.ok for t in report.traceability)


def test_corruption_behind_the_tools_back_is_named_exactly(demo):
    engine = make_engine(Project(demo.directory).target_url)
    with engine.begin() as c:
        lots = [r[0] for r in c.execute(text("SELECT lot_no FROM material_lot ORDER BY lot_no LIMIT 2"))]
        c.execute(text("UPDATE material_lot SET warehouse = 'WH-X' WHERE lot_no = :l"), {"l": lots[0]})
        c.execute(text("UPDATE material_lot SET quantity = '0.000001' WHERE lot_no = :l"), {"l": lots[1]})
        supplier = c.execute(
            text("SELECT supplier_code FROM supplier ORDER BY supplier_code LIMIT 1")
        ).scalar()
        c.execute(text("UPDATE supplier SET name = name || ' ' WHERE supplier_code = :s"), {"s": supplier})
    engine.dispose()
    result = CliRunner().invoke(
        app, ["--project", str(demo.directory), "--json", "reconcile", "supplier", "material_lot"]
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    named = {
        (e["entity"], tuple(d["key"].values()), d.get("column"))
        for e in data["entities"]
        for d in e["rows"]["details"]
    }
    assert named == {
        ("material_lot", (lots[0],), "warehouse"),
        ("material_lot", (lots[1],), "quantity"),
        ("supplier", (supplier,), "name"),
    }
    totals = {t["name"]: t for e in data["entities"] for t in e["control_totals"]}
    assert not totals["material_lot quantity total"]["ok"]  # the total sees the quantity change too
