"""The legacy factory: deterministic bytes, and a manifest that says exactly what the files hold."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from migrate.factory import copy_mes, generate, sizes_for
from migrate.factory.manifest import REASONS
from migrate.factory.mes import MES_TABLES
from migrate.project import Project
from migrate.store import normalize_header
from tests.factory.readback import first_data_row, open_source

REPO = Path(__file__).resolve().parents[2]
REQUIRED_REASONS = {
    "duplicate_key",
    "unknown_reference",
    "invalid_date",
    "negative_quantity",
    "unknown_value",
    "missing_value",
    "expiry_before_manufacture",
}


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path):
    generate(tmp_path / "a", seed=11, scale="small")
    generate(tmp_path / "b", seed=11, scale="small")
    a, b = files_of(tmp_path / "a"), files_of(tmp_path / "b")
    assert len(a) == 8  # seven legacy files and the manifest
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name


def test_another_seed_gives_another_estate(tmp_path, small_estate):
    generate(tmp_path, seed=8, scale="small")
    root, _ = small_estate
    assert (tmp_path / "legacy/质检记录.csv").read_bytes() != (root / "legacy/质检记录.csv").read_bytes()


def test_committed_fixtures_are_what_seed_7_default_generates(tmp_path):
    generate(tmp_path, seed=7, scale="default")
    fresh, committed = files_of(tmp_path), files_of(REPO / "fixtures")
    assert fresh.keys() == committed.keys()
    changed = [name for name in fresh if fresh[name] != committed[name]]
    assert not changed, f"regenerate with `python -m migrate.factory fixtures`: {changed}"


def test_row_counts_match_the_files(small_estate):
    root, manifest = small_estate
    for name, source in manifest["sources"].items():
        for sheet, expected in source["sheets"].items():
            opened = open_source(root, source, sheet or None, name)
            assert opened.data_rows(first_data_row(source, name)) == expected, (name, sheet)
        assert source["rows"] == sum(source["sheets"].values())


def test_every_defect_is_where_the_manifest_says(small_estate):
    root, manifest = small_estate
    opened: dict[tuple, object] = {}
    for d in manifest["defects"]:
        source = manifest["sources"][d["source"]]
        key = (d["source"], d["sheet"])
        if key not in opened:
            opened[key] = open_source(root, source, d["sheet"], d["source"])
        cell = opened[key].cell(d["row"], d["column"])
        assert cell == d["value"], d
        assert d["entity"] == source["entity"] and d["file"] == source["file"]


def test_defects_are_well_formed_and_cover_every_kind(small_estate):
    _, manifest = small_estate
    defects = manifest["defects"]
    assert len({d["id"] for d in defects}) == len(defects)
    assert {d["reason"] for d in defects} <= REASONS
    assert {d["reason"] for d in defects} >= REQUIRED_REASONS
    assert len({(d["source"], d["sheet"], d["row"]) for d in defects}) == len(defects), "one defect per row"
    groups = Counter(d["group"] for d in defects if d["reason"] == "duplicate_key")
    assert groups and all(n == 2 for n in groups.values())
    for entity in manifest["entities"].values():
        assert entity["mapped"] + entity["rejected"] == entity["source_rows"]
        assert entity["rejected"] == sum(entity["rejects"].values())
    assert sum(e["rejected"] for e in manifest["entities"].values()) == len(defects)


def test_defective_keys_are_never_referenced(small_estate):
    """No cascades: a rejected row's key appears nowhere else, so each defect is one reject."""
    root, manifest = small_estate
    keys = {d["value"] for d in manifest["defects"] if d["reason"] == "duplicate_key"}
    db = sqlite3.connect(root / "legacy/mes.db")
    try:
        used = {
            r[0]
            for r in db.execute(
                "SELECT input_lot_no FROM lot_consumption UNION SELECT wo_no FROM process_parameters"
            )
        }
        used |= {
            r[0]
            for r in db.execute(
                "SELECT product_code FROM work_orders UNION SELECT equip_code FROM equipment_status_log"
            )
        }
    finally:
        db.close()
    assert not keys & used
    for text in ("legacy/库存流水.csv", "legacy/质检记录.csv"):
        content = (root / text).read_bytes().decode("utf-8-sig" if "库存" in text else "gb18030")
        for key in keys:
            if key.startswith(("R", "P")):  # duplicated lots: only their two ledger rows
                assert key not in content


def test_messy_but_valid_values_are_there(small_estate):
    root, manifest = small_estate
    variants = manifest["variants"]
    assert variants["lots"]["date_serial"] > 0 and variants["lots"]["date_cn"] > 0
    assert variants["lots"]["quantity_with_unit"] > 0 and variants["materials"]["unit_variant"] > 0
    assert variants["materials"]["leading_zero"] == sizes_for("small")["materials"]
    wb = openpyxl.load_workbook(root / "legacy/批次台账.xlsx")
    cells = [c for ws in wb for row in ws.iter_rows(min_row=2) for c in row]
    assert any(c.is_date for c in cells), "serial date cells with a date number format"
    assert any(isinstance(c.value, str) and "年" in c.value and c.value.endswith("日") for c in cells)
    assert any(
        isinstance(c.value, str) and c.value.endswith((" kg", " KG", " 公斤", " 千克", " Kg")) for c in cells
    )
    for ws in wb:
        last = [r for r in ws.iter_rows(values_only=True) if any(v is not None for v in r)][-1]
        assert last[0] == "合计", ws.title
    master = openpyxl.load_workbook(root / "legacy/物料主数据.xlsx")["物料"]
    assert master.merged_cells.ranges and master["A4"].data_type == "s" and master["A4"].value.startswith("0")
    assert (root / "legacy/库存流水.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    raw = (root / "legacy/质检记录.csv").read_bytes()
    assert "让步接收".encode("gb18030") in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_value_maps_cover_every_valid_spelling(small_estate):
    _, manifest = small_estate
    units = manifest["value_maps"]["unit"]
    assert {units[s] for s in ("kg", "KG", "公斤", "千克")} == {"kg"}
    unknown = {d["value"] for d in manifest["defects"] if d["column"] == "单位"}
    assert unknown and not unknown & set(units)


def test_mes_schema_loads_into_postgresql(small_estate, pg_url):
    from migrate.db import make_engine

    root, manifest = small_estate
    engine = make_engine(pg_url)
    try:
        counts = copy_mes(root / "legacy/mes.db", engine)
    finally:
        engine.dispose()
    by_table = {s["table"]: s["rows"] for s in manifest["sources"].values() if s["kind"] == "sql"}
    assert counts == by_table
    assert set(counts) == set(MES_TABLES)


def test_scale_as_a_row_count(tmp_path):
    manifest = generate(tmp_path, seed=3, scale=2_500)
    assert manifest["sources"]["mes_process_parameters"]["rows"] == 2_500
    db = sqlite3.connect(tmp_path / "legacy/mes.db")
    try:
        (n,) = db.execute("SELECT count(*) FROM process_parameters").fetchone()
        (dupes,) = db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM process_parameters "
            "GROUP BY wo_no, equip_code, param_name, recorded_at HAVING count(*) > 1)"
        ).fetchone()
    finally:
        db.close()
    assert (n, dupes) == (2_500, 0)
    with pytest.raises(ValueError, match="unknown scale"):
        sizes_for("huge")


def test_small_scale_takes_seconds(tmp_path):
    started = time.perf_counter()
    generate(tmp_path, scale="small")
    assert time.perf_counter() - started < 20  # generous: two cores shared by six people


def test_reference_project_declares_every_generated_source():
    project = Project(REPO)
    assert project.spec.name == "reference-factory"
    assert [p.name for p in project.plan.phases] == [
        "master-data",
        "open-inventory",
        "production-history",
        "go-live-delta",
    ]
    manifest_sources = set(
        __import__("json").loads((REPO / "fixtures/manifest.json").read_text("utf-8"))["sources"]
    )
    assert set(project.spec.sources) == manifest_sources
    for name, source in project.spec.sources.items():
        where = source.path if source.kind != "sql" else source.url.removeprefix("sqlite:///")
        assert project.path(where).is_file(), name


def test_manifest_columns_are_headers_of_their_source(small_estate):
    root, manifest = small_estate
    for d in manifest["defects"]:
        source = manifest["sources"][d["source"]]
        header = open_source(root, source, d["sheet"], d["source"]).header
        assert normalize_header(d["column"]) in {normalize_header(h) for h in header}


def test_command_line_writes_an_estate_and_refuses_a_bad_scale(tmp_path):
    import subprocess
    import sys

    run = [sys.executable, "-m", "migrate.factory", str(tmp_path / "out")]
    done = subprocess.run([*run, "--scale", "2000", "--seed", "5"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "12 sources" in done.stdout and (tmp_path / "out/manifest.json").is_file()
    bad = subprocess.run([*run, "--scale", "enormous"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown scale" in bad.stderr and "Traceback" not in bad.stderr


def test_units_of_readings_are_in_the_value_maps(small_estate):
    root, manifest = small_estate
    known = set(manifest["value_maps"]["measurement_unit"])
    db = sqlite3.connect(root / "legacy/mes.db")
    try:
        used = {u for (u,) in db.execute("SELECT DISTINCT uom FROM process_parameters")}
    finally:
        db.close()
    assert used and used <= known


def _peak_rss_kb(out: Path, rows: int) -> int:
    import subprocess
    import sys

    # VmHWM, not ru_maxrss: Linux carries the forking parent's (pytest's) peak into ru_maxrss.
    code = (
        "import re, sys; from pathlib import Path; from migrate.factory import generate; "
        f"generate(Path(sys.argv[1]), scale={rows}); "
        "print(re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text()).group(1))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


def test_process_parameters_stream_without_growing_memory(tmp_path):
    small = _peak_rss_kb(tmp_path / "a", 20_000)
    big = _peak_rss_kb(tmp_path / "b", 120_000)
    assert big - small < 15_000, (small, big)  # six times the rows, (almost) the same memory
