"""`migrate trace`: genealogy walks on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from migrate import db
from migrate.cli.app import app
from migrate.errors import MigrateError
from migrate.model import customer, lot_genealogy, material, material_lot, shipment, supplier, work_order
from migrate.trace import trace


@pytest.fixture
def plant(target_url):
    """raw lots R1, R2 (supplier S1) -> semi lot M1 (WO1); M1 + R2 -> finished lot F1 (WO2), shipped to C1."""
    engine = db.make_engine(target_url)
    db.upgrade(engine)
    with engine.begin() as c:
        c.execute(insert(supplier).values(supplier_code="S1", name="s", qualification_status="approved"))
        c.execute(insert(customer).values(customer_code="C1", name="c"))
        for code, kind in (("RAW", "raw"), ("SEMI", "semi"), ("FIN", "finished")):
            c.execute(
                insert(material).values(material_code=code, name=code, material_type=kind, base_uom="kg")
            )
        ids = dict(c.execute(select(material.c.material_code, material.c.id)).all())
        sid = c.execute(select(supplier.c.id)).scalar_one()
        for lot, mat, sup in (
            ("R1", "RAW", sid),
            ("R2", "RAW", sid),
            ("M1", "SEMI", None),
            ("F1", "FIN", None),
        ):
            c.execute(
                insert(material_lot).values(
                    lot_no=lot,
                    material_id=ids[mat],
                    supplier_id=sup,
                    supplier_lot_no="V-" + lot if sup else None,
                    quantity=Decimal("10"),
                    uom="kg",
                    status="released",
                )
            )
        for wo, mat in (("WO1", "SEMI"), ("WO2", "FIN")):
            c.execute(
                insert(work_order).values(
                    work_order_no=wo, material_id=ids[mat], planned_qty=1, uom="kg", status="completed"
                )
            )
        lots = dict(c.execute(select(material_lot.c.lot_no, material_lot.c.id)).all())
        wos = dict(c.execute(select(work_order.c.work_order_no, work_order.c.id)).all())
        for parent, child, wo in (
            ("R1", "M1", "WO1"),
            ("R2", "M1", "WO1"),
            ("M1", "F1", "WO2"),
            ("R2", "F1", "WO2"),
        ):
            c.execute(
                insert(lot_genealogy).values(
                    parent_lot_id=lots[parent],
                    child_lot_id=lots[child],
                    work_order_id=wos[wo],
                    quantity=Decimal("2.5"),
                    uom="kg",
                )
            )
        c.execute(
            insert(shipment).values(
                shipment_no="SH1",
                line_no=1,
                customer_id=c.execute(select(customer.c.id)).scalar_one(),
                lot_id=lots["F1"],
                quantity=Decimal("4"),
                uom="kg",
                shipped_at=datetime(2024, 5, 1, 8, tzinfo=UTC),
            )
        )
    yield engine
    engine.dispose()


def test_backward_reaches_every_supplier_lot(plant):
    result = trace(plant, "F1", "backward")
    assert {(link.from_lot, link.to_lot, link.depth) for link in result.links} == {
        ("F1", "M1", 1),
        ("F1", "R2", 1),
        ("M1", "R1", 2),
        ("M1", "R2", 2),
    }
    assert {k for k, v in result.lots.items() if v["supplier_code"] == "S1"} == {"R1", "R2"}
    assert all(link.quantity == Decimal("2.5") for link in result.links)


def test_forward_reaches_customers(plant):
    result = trace(plant, "R1", "forward")
    assert [(link.from_lot, link.to_lot) for link in result.links] == [("R1", "M1"), ("M1", "F1")]
    assert [(s["lot_no"], s["customer_code"], s["quantity"]) for s in result.shipments] == [
        ("F1", "C1", Decimal("4.000000"))
    ]
    assert result.shipments[0]["shipped_at"] == datetime(2024, 5, 1, 8, tzinfo=UTC)


def test_unknown_lot(plant):
    with pytest.raises(MigrateError, match="lot 'NOPE' is not in the target"):
        trace(plant, "NOPE")


def test_cli_json(plant, tmp_path):
    (tmp_path / "project.yaml").write_text("name: x\n")
    url = plant.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        app, ["--project", str(tmp_path), "--target", url, "--json", "trace", "R2", "--forward"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {link["to_lot"] for link in data["links"]} == {"M1", "F1"}
    result = CliRunner().invoke(
        app, ["--project", str(tmp_path), "--target", url, "trace", "R2", "--forward"]
    )
    assert result.exit_code == 0 and "C1" in result.stdout
