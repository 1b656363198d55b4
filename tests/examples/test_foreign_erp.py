"""The foreign-ERP example (examples/foreign-erp/) end to end, with no `query` source and no
project Python: from its file export and from its database, on SQLite and PostgreSQL —
every entity loaded, reconcile clean, rollback to the start exact."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.factory.foreign import TABLES, generate_foreign
from migrate.project import Project
from tests.load.conftest import hashes

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "foreign-erp"
ENTITIES = (
    "supplier",
    "customer",
    "material",
    "equipment",
    "material_lot",
    "inventory_movement",
    "work_order",
    "lot_genealogy",
    "process_parameter",
    "shipment",
)


def cli(root: Path, *args: str):
    result = CliRunner().invoke(app, ["--project", str(root), "--operator", "qa", "--json", *args])
    return result, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else None)


def project(tmp_path: Path, form: str, target: str) -> Path:
    root = tmp_path / "foreign-erp"
    shutil.copytree(EXAMPLE, root)
    rows = generate_foreign(root / "data", orders=6)
    spec = yaml.safe_load((root / "project.yaml").read_text("utf-8"))
    if form == "db":  # the same tables read from the ERP's database: the mappings do not change
        files = {Path(s["path"]).stem: name for name, s in spec["sources"].items()}
        spec["sources"] = {
            files[t]: {"kind": "sql", "url": "sqlite:///data/erp.db", "table": t} for t in TABLES
        }
    spec["target"] = target
    (root / "project.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    assert rows["TransactionHistory"] > 0
    return root


@pytest.mark.parametrize("form", ["files", "db"])
def test_foreign_erp_end_to_end(tmp_path, form, target_url):
    root = project(tmp_path, form, target_url)
    assert not any(
        s.get("query") for s in yaml.safe_load((root / "project.yaml").read_text())["sources"].values()
    )
    assert not list(root.rglob("*.py"))
    assert cli(root, "db", "upgrade")[0].exit_code == 0
    start = hashes(str(Project(root).target_url))
    for step in (["extract"], ["map"], ["load"]):
        result, _ = cli(root, *step)
        assert result.exit_code == 0, (step, result.output)
    mapped = json.loads(cli(root, "map", "--simulate")[0].stdout)["entities"]
    for entity in ENTITIES:
        counts = mapped[entity]
        assert counts["rejected"] == 0 and counts["mapped"] > 0, (entity, counts)
    assert (
        mapped["process_parameter"]["by_source"][0]["rows"]
        == 2 * mapped["process_parameter"]["by_source"][0]["read"]
    )
    assert mapped["lot_genealogy"]["filtered_by_filter"]["not_an_issue"] > 0
    result, report = cli(root, "reconcile")
    assert result.exit_code == 0, result.output
    every = {e["entity"]: e for e in report["entities"]}
    for entity in ENTITIES:
        assert every[entity]["ok"] and every[entity]["accounting"]["adds_up"], entity
        assert every[entity]["accounting"]["loaded"] == mapped[entity]["mapped"], entity
    assert start != hashes(str(Project(root).target_url))
    totals = {t["name"]: t for t in every["material_lot"]["control_totals"]}  # the whole of two sources
    assert totals["quantity received and produced"]["source"] == "po_line + work_order"
    for total in (t for e in every.values() for t in e["control_totals"]):  # each source's share
        shares = [Decimal(v) for v in total["by_source"].values()]
        assert sum(shares) == Decimal(total["source_total"]) and all(v > 0 for v in shares)
    shared = totals["quantity received and produced"]["by_source"]
    assert [label.split(":")[0] for label in shared] == ["po_line", "work_order"]
    assert all(t["ok"] for e in every.values() for t in e["control_totals"])
    assert sum(len(e["control_totals"]) for e in every.values()) == 4
    back, data = cli(root, "rollback", "run", "--to", "start", "--yes")
    assert back.exit_code == 0 and data["exact"], back.output
    assert hashes(str(Project(root).target_url)) == start
