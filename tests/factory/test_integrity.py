"""Each manifest entry is exactly one reject: clean rows have unique keys and resolvable references.

A map that follows the value maps and rejects by the shared reason codes must reject the
manifest's rows and only those; these checks prove the generated data allows that.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from typing import Any

from tests.factory.readback import first_data_row, open_source

KEYS = {
    "materials": ("物料编码",),
    "suppliers": ("供应商编码",),
    "customers": ("客户编码",),
    "lots": ("批号",),
    "inspections": ("检验单号",),
    "movements": ("单据号",),
    "shipments": ("发货单号", "行号"),
    "mes_equipment": ("equip_code",),
    "mes_work_orders": ("wo_no",),
    "mes_genealogy": ("wo_no", "input_lot_no", "output_lot_no"),
    "mes_equipment_status": ("equip_code", "start_time"),
    "mes_process_parameters": ("wo_no", "equip_code", "param_name", "recorded_at"),
}
# (source, column) -> (referenced source, its key column); empty references are allowed
# only where the model allows a NULL (a produced lot has no supplier).
REFERENCES = {
    ("lots", "物料编码"): ("materials", "物料编码"),
    ("lots", "供应商编码"): ("suppliers", "供应商编码"),
    ("inspections", "批号"): ("lots", "批号"),
    ("movements", "批号"): ("lots", "批号"),
    ("shipments", "批号"): ("lots", "批号"),
    ("shipments", "客户编码"): ("customers", "客户编码"),
    ("mes_work_orders", "product_code"): ("materials", "物料编码"),
    ("mes_genealogy", "wo_no"): ("mes_work_orders", "wo_no"),
    ("mes_genealogy", "input_lot_no"): ("lots", "批号"),
    ("mes_genealogy", "output_lot_no"): ("lots", "批号"),
    ("mes_equipment_status", "equip_code"): ("mes_equipment", "equip_code"),
    ("mes_process_parameters", "wo_no"): ("mes_work_orders", "wo_no"),
    ("mes_process_parameters", "equip_code"): ("mes_equipment", "equip_code"),
}


def norm(value: Any) -> Any:
    """What a key means after the messy-but-valid spellings are cleaned (NFKC, trimmed)."""
    if isinstance(value, str):
        return unicodedata.normalize("NFKC", value).strip() or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def load_rows(root, manifest) -> dict[str, list[tuple[tuple, dict[str, Any]]]]:
    """Per source: ((sheet, row), {column: value}) for every data row."""
    out: dict[str, list] = defaultdict(list)
    for name, source in manifest["sources"].items():
        for sheet in source["sheets"]:
            opened = open_source(root, source, sheet or None, name)
            first = first_data_row(source, name)
            for r, values in opened.rows.items():
                if r < first or all(v in (None, "") for v in values):
                    continue
                if isinstance(values[0], str) and values[0].startswith("合计"):
                    continue
                record = {
                    h: norm(v if v != "" else None) for h, v in zip(opened.header, values, strict=False)
                }
                out[name].append(((sheet or None, r), record))
    return out


def defect_rows(manifest) -> dict[str, set[tuple]]:
    out: dict[str, set] = defaultdict(set)
    for d in manifest["defects"]:
        out[d["source"]].add(
            (d["sheet"] or (d.get("table") if d["file"].endswith(".db") else None), d["row"])
        )
    return out


def test_clean_keys_are_unique_and_duplicates_are_exactly_the_manifest_groups(small_estate):
    root, manifest = small_estate
    rows, bad = load_rows(root, manifest), defect_rows(manifest)
    assert set(rows) == set(KEYS) and all(rows.values())
    assert sum(len(b) for b in bad.values()) == len(manifest["defects"])
    for name, key in KEYS.items():
        counts = Counter(tuple(rec[c] for c in key) for _, rec in rows[name])
        for where, rec in rows[name]:
            k = tuple(rec[c] for c in key)
            if counts[k] > 1:
                assert _where(where, manifest, name) in bad[name], (name, where, k)


def test_clean_references_resolve_to_clean_rows(small_estate):
    root, manifest = small_estate
    rows, bad = load_rows(root, manifest), defect_rows(manifest)
    clean = {
        name: [rec for where, rec in recs if _where(where, manifest, name) not in bad[name]]
        for name, recs in rows.items()
    }
    for (name, column), (target, key) in REFERENCES.items():
        known = {rec[key] for rec in clean[target]}
        for rec in clean[name]:
            value = rec[column]
            if value is None and (name, column) == ("lots", "供应商编码"):
                continue
            assert value in known, (name, column, value)
    produced = [rec for rec in clean["lots"] if rec["批号"].startswith("P")]
    assert produced and all(rec["供应商编码"] is None for rec in produced)


def _where(where: tuple, manifest, name: str) -> tuple:
    """Files give (sheet, row); tables give (table, row) — the manifest's `sheet` is None there."""
    sheet, row = where
    if manifest["sources"][name]["kind"] == "sql":
        return (manifest["sources"][name]["table"], row)
    return (sheet, row)
