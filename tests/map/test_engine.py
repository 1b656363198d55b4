"""The map stage on a small staged project: exact counts, rejects with lineage, duplicates, lookups."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import insert

from migrate import db
from migrate.mapping import map_entities
from migrate.model import material as material_table
from migrate.project import Project
from migrate.store import WorkStore
from tests.map import scenario
from tests.map.helpers import stage, write_mapping


def counts(result, entity: str) -> dict:
    data = next(e for e in result.entities if e.entity == entity).to_dict()
    return {k: data[k] for k in scenario.EXPECTED[entity]}


def table(project: Project, name: str) -> pd.DataFrame:
    store = WorkStore(project.staging_url)
    try:
        return pd.concat(list(store.read_chunks(name)), ignore_index=True)
    finally:
        store.dispose()


def test_counts_rejects_and_row_accounting(tmp_path):
    project = Project(scenario.build(tmp_path))
    result = map_entities(project)
    for entity, expected in scenario.EXPECTED.items():
        assert counts(result, entity) == expected
        e = next(x for x in result.entities if x.entity == entity)
        assert e.source_rows == e.mapped + e.rejected + e.filtered
    rejects = table(project, "map_rejects")
    assert rejects[["_source", "_file", "_row", "reason", "rule", "message"]].notna().all().all()
    lots = rejects[rejects.entity == "material_lot"].set_index("_row")
    assert lots.loc[7, "reason"] == "unknown_reference" and "M404" in lots.loc[7, "message"]
    assert lots.loc[4, "reason"] == "invalid_date" and lots.loc[4, "value"] == "2024-02-30"
    runs = table(project, "map_runs")
    details = json.loads(runs[runs.entity == "material"].iloc[-1]["details"])
    expected = scenario.EXPECTED["material"]
    assert details == {
        "rejected_by_reason": expected["rejected_by_reason"],
        "filtered_by_filter": {"voided": 1},
        "by_source": [
            {
                "source": "mat",
                "read": expected["source_rows"],
                "rows": expected["source_rows"],
                "mapped": expected["mapped"],
                "rejected": expected["rejected"],
                "filtered": expected["filtered"],
            }
        ],
    }


def test_mapped_rows_are_canonical_text(tmp_path):
    project = Project(scenario.build(tmp_path))
    map_entities(project)
    lots = table(project, "map_material_lot").set_index("lot_no")
    assert lots.loc["L1", "quantity"] == "12.500000"
    assert lots.loc["L5", "quantity"] == "0.500000"  # 500 g in kg
    assert lots.loc["L1", "received_on"] == "2024-01-01"  # Excel serial 45292
    assert pd.isna(lots.loc["L5", "manufactured_on"])  # blank is NULL, never ''
    materials = table(project, "map_material").set_index("material_code")
    assert list(materials.index) == ["M001", "M002"]  # trimmed; M006's pair rejected together
    assert materials.loc["M001", "shelf_life_days"] == "365"
    assert materials.loc["M001", "material_type"] == "raw"


def test_simulate_reports_the_same_and_replaces_nothing(tmp_path):
    project = Project(scenario.build(tmp_path))
    real = map_entities(project)
    before = table(project, "map_material_lot")
    stage(tmp_path, "lots", scenario.LOTS[:2])  # the source shrinks; the simulation must see it
    simulated = map_entities(project, simulate=True)
    assert simulated.simulate and counts(simulated, "material") == counts(real, "material")
    assert next(e for e in simulated.entities if e.entity == "material_lot").source_rows == 2
    pd.testing.assert_frame_equal(table(project, "map_material_lot"), before)
    store = WorkStore(project.staging_url)
    assert not [
        t for t in store.engine.dialect.get_table_names(store.engine.connect()) if t.startswith("scratch_")
    ]
    store.dispose()
    assert not (tmp_path / ".migrate" / "target.db").exists()


@pytest.mark.parametrize(
    ("policy", "order_by", "kept_name"),
    [
        ("keep_first", "_row_id", "重复A"),
        ("keep_last", "_row_id", "重复B"),
        ("keep_first", "shelf_life_days", "重复A"),
    ],
)
def test_duplicate_policies_keep_one_member(tmp_path, policy, order_by, kept_name):
    project = Project(scenario.build(tmp_path))
    write_mapping(
        tmp_path,
        "material",
        scenario.MATERIAL_MAPPING | {"duplicates": {"policy": policy, "order_by": order_by}},
    )
    result = map_entities(project, ["material"])
    assert next(iter(result.entities)).rejected_by_reason["duplicate_key"] == 1
    materials = table(project, "map_material").set_index("material_code")
    assert materials.loc["M006", "name"] == kept_name


def test_unique_rule_rejects_every_member(tmp_path):
    project = Project(scenario.build(tmp_path))
    mapping = scenario.MATERIAL_MAPPING | {"rules": [{"unique": ["material_type"], "name": "one_per_type"}]}
    write_mapping(tmp_path, "material", mapping)
    result = map_entities(project, ["material"])
    e = next(iter(result.entities))
    # the M006 pair (natural key), then M001 and M002 (both raw) under the unique rule
    assert e.rejected_by_reason["duplicate_key"] == 4 and e.mapped == 0
    assert e.source_rows == e.mapped + e.rejected + e.filtered
    rules = table(project, "map_rejects").query("reason == 'duplicate_key'")["rule"]
    assert sorted(rules) == ["duplicates", "duplicates", "one_per_type", "one_per_type"]


def test_references_resolve_against_the_target(tmp_path, target_url):
    """A lot whose material is not in this run's rows but already loaded in the target is mapped."""
    project = Project(scenario.build(tmp_path), target_override=target_url)
    engine = db.make_engine(target_url)
    db.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(material_table),
            {"material_code": "M404", "name": "x", "material_type": "raw", "base_uom": "kg"},
        )
    engine.dispose()
    result = map_entities(project)
    lots = next(e for e in result.entities if e.entity == "material_lot")
    assert lots.rejected_by_reason["unknown_reference"] == 1  # only M003 (rejected material) remains unknown
    assert "L6" in set(table(project, "map_material_lot")["lot_no"])


def test_stacked_sources_share_one_mapping(tmp_path):
    project = Project(scenario.build(tmp_path))
    from tests.map.helpers import write_project

    write_project(tmp_path, {"mat": [], "lots": [], "lots_2024_02": []})
    stage(
        tmp_path,
        "lots_2024_02",
        [{"批次": "L9", "物料": "M001", "数量": "3", "生产": "", "有效": "", "入库": ""}],
        "2024-02",
    )
    write_mapping(tmp_path, "material_lot", scenario.LOT_MAPPING | {"sources": ["lots", "lots_2024_02"]})
    result = map_entities(Project(tmp_path), ["material", "material_lot"])
    lots = next(e for e in result.entities if e.entity == "material_lot")
    assert (lots.source_rows, lots.mapped) == (8, 3)
    mapped = table(project, "map_material_lot").set_index("lot_no")
    assert mapped.loc["L9", "_sheet"] == "2024-02"


def test_project_timezone_applies_to_naive_timestamps(tmp_path):
    from tests.map.helpers import write_project

    write_project(tmp_path, {"wo": []})
    stage(tmp_path, "wo", [{"单号": "WO1", "物料": "M1", "开始": "2024-03-01 08:30:00", "数量": "1,200.5"}])
    stage(tmp_path, "mat", [{"物料编码": "M1"}])
    write_project(tmp_path, {"wo": [], "mat": []})
    write_mapping(
        tmp_path,
        "material",
        {
            "sources": "mat",
            "columns": {
                "material_code": {"from": "物料编码"},
                "name": {"const": "m"},
                "material_type": {"const": "raw"},
                "base_uom": {"const": "kg"},
            },
        },
    )
    write_mapping(
        tmp_path,
        "work_order",
        {
            "sources": "wo",
            "columns": {
                "work_order_no": {"from": "单号"},
                "material_code": {"from": "物料"},
                "planned_qty": {"from": "数量"},
                "uom": {"const": "kg"},
                "status": {"const": "completed"},
                "started_at": {"from": "开始"},
            },
        },
    )
    map_entities(Project(tmp_path))
    row = table(Project(tmp_path), "map_work_order").iloc[0]
    assert row["started_at"] == "2024-03-01T00:30:00+00:00"  # Asia/Shanghai is UTC+8
    assert row["planned_qty"] == "1200.500000"


def test_columns_joined_and_constants(tmp_path):
    project = Project(scenario.build(tmp_path))
    columns = scenario.MATERIAL_MAPPING["columns"] | {
        "spec": {"from": ["名称", "单位"], "sep": " / ", "steps": ["upper"]},
        "name": {"const": "固定名称"},
    }
    write_mapping(tmp_path, "material", scenario.MATERIAL_MAPPING | {"columns": columns})
    map_entities(project, ["material"])
    materials = table(project, "map_material").set_index("material_code")
    assert materials.loc["M001", "spec"] == "钢板 / KG"
    assert set(materials["name"]) == {"固定名称"}
