"""A small project shared by the map tests: materials and lots staged as extract writes them."""

from __future__ import annotations

from pathlib import Path

from tests.map.helpers import stage, write_mapping, write_project, write_values

MATERIALS = [
    {"物料编码": " M001 ", "名称": "钢板", "类型": "原料", "单位": "kg", "保质期": "365"},
    {"物料编码": "M002", "名称": "螺丝", "类型": "原料", "单位": "pcs", "保质期": ""},
    {"物料编码": "M003", "名称": "坏保质期", "类型": "原料", "单位": "pcs", "保质期": "x"},
    {"物料编码": "M004", "名称": "成品", "类型": "神秘", "单位": "pcs", "保质期": "10"},
    {"物料编码": "M005", "名称": "作废", "类型": "作废", "单位": "pcs", "保质期": "10"},
    {"物料编码": "M006", "名称": "重复A", "类型": "原料", "单位": "kg", "保质期": "1"},
    {"物料编码": "M006", "名称": "重复B", "类型": "原料", "单位": "kg", "保质期": "2"},
    {"物料编码": "", "名称": "无编码", "类型": "原料", "单位": "kg", "保质期": "2"},
    {"物料编码": "M007", "名称": "前导零", "类型": "007", "单位": "kg", "保质期": "2"},
    {"物料编码": "M008", "名称": "公式", "类型": "=SUM(A1)", "单位": "kg", "保质期": "2"},
]
LOTS = [
    {
        "批次": "L1",
        "物料": "M001",
        "数量": "12.5 kg",
        "生产": "2024-01-01",
        "有效": "2024-12-31",
        "入库": "45292",
    },
    {"批次": "L2", "物料": "M002", "数量": "-1", "生产": "2024-01-01", "有效": "", "入库": ""},
    {"批次": "L3", "物料": "M001", "数量": "5", "生产": "2024-02-30", "有效": "", "入库": ""},
    {"批次": "L4", "物料": "M001", "数量": "5", "生产": "2024-01-01", "有效": "2023-12-31", "入库": ""},
    {"批次": "L5", "物料": "M001", "数量": "500 g", "生产": "", "有效": "", "入库": ""},
    {"批次": "L6", "物料": "M404", "数量": "1", "生产": "", "有效": "", "入库": ""},
    {"批次": "L7", "物料": "M003", "数量": "1", "生产": "", "有效": "", "入库": ""},
]
# What the mapping must make of them, row by row (rows 2.. in the staged order).
EXPECTED = {
    "material": {
        "source_rows": 10,
        "mapped": 2,
        "rejected": 7,
        "filtered": 1,
        "rejected_by_reason": {
            "invalid_number": 1,
            "unknown_value": 3,
            "duplicate_key": 2,
            "missing_value": 1,
        },
        "filtered_by_filter": {"voided": 1},
    },
    "material_lot": {
        "source_rows": 7,
        "mapped": 2,
        "rejected": 5,
        "filtered": 0,
        "rejected_by_reason": {
            "negative_quantity": 1,
            "invalid_date": 1,
            "expiry_before_manufacture": 1,
            "unknown_reference": 2,
        },
        "filtered_by_filter": {},
    },
}

MATERIAL_MAPPING = {
    "sources": ["mat"],
    "columns": {
        "material_code": {"from": "物料编码", "steps": ["trim"]},
        "name": {"from": "名称"},
        "material_type": {"from": "类型", "steps": ["trim", {"value_map": "material_type"}]},
        "base_uom": {"from": "单位"},
        "shelf_life_days": {"from": "保质期", "steps": ["integer"]},
    },
    "filters": [{"name": "voided", "column": "类型", "in": ["作废"]}],
    "duplicates": {"policy": "reject_all"},
}
LOT_MAPPING = {
    "sources": "lots",
    "columns": {
        "lot_no": {"from": "批次"},
        "material_code": {"from": "物料"},
        "quantity": {
            "from": "数量",
            "steps": [{"to_unit": {"to": "kg", "factors": {"g": 0.001}, "default_unit": "kg"}}],
        },
        "uom": {"const": "kg"},
        "manufactured_on": {"from": "生产"},
        "expires_on": {"from": "有效"},
        "received_on": {"from": "入库"},
        "status": {"const": "released"},
    },
    "rules": [
        {"range": {"column": "quantity", "min": 0}, "reason": "negative_quantity"},
        {
            "compare": {"left": "expires_on", "op": ">=", "right": "manufactured_on"},
            "reason": "expiry_before_manufacture",
        },
    ],
}
MATERIAL_TYPES = {
    "strict": True,
    "allowed": ["raw", "semi", "finished", "packaging"],
    "entries": {"原料": "raw", "成品": "finished"},
}


def build(root: Path) -> Path:
    write_project(root, {"mat": [], "lots": []})
    stage(root, "mat", MATERIALS)
    stage(root, "lots", LOTS)
    write_values(root, "material_type", MATERIAL_TYPES)
    write_mapping(root, "material", MATERIAL_MAPPING)
    write_mapping(root, "material_lot", LOT_MAPPING)
    return root
