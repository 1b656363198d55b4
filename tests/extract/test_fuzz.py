"""Fuzz (issue 17): random byte flips and truncations of small workbooks of each kind (xlsx by
openpyxl and by our zip writer, xls by xlwt (one with a code page calamine mis-decodes) and built
record by record (long texts over CONTINUE records), xlsb by pyxlsbwriter, ods by pandas' odf
engine, an Excel 2003 XML "xls"), each
extracted through the CLI with --json. Every case must end in exit 0 or 2 with no traceback,
within 30 s, and the run's peak memory stay under 512 MB; stdout must hold only JSON. The cases
run in one subprocess (tests/extract/fuzz_worker.py), so a hang or a blow-up ends only it.
A representative slice runs by default; `-m slow` runs ten times as many."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
import xlwt
import yaml

from tests.extract import segment_books as sb

CASE_SECONDS = 30
PEAK_KIB = 512 * 1024


def _seeds(d: Path) -> dict[str, tuple[str, bytes]]:
    """name -> (kind, bytes) of small but feature-rich workbooks."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "批次"
    ws.append(["标题"])
    ws.merge_cells("A1:C1")
    ws.append(["编码", "日期", "数量"])
    for i in range(30):
        ws.append([f"{i:05d}", dt.date(2024, 1, 1) + dt.timedelta(days=i), i / 3])
    ws.row_dimensions[5].hidden = True
    ws["C7"] = "=C6*2"
    wb.create_sheet("空")
    wb.save(d / "a.xlsx")
    rows = [sb.header_row(1, ["编码", "数", "备注"])]
    rows += [
        sb.row(r, [sb.inline(f"A{r}", f"{r:04d}"), sb.num(f"B{r}", -r, sb.DATE), sb.shared(f"C{r}", r % 3)])
        for r in range(2, 40)
    ]
    rows += [sb.row(40, [sb.error("A40")], hidden=True)]
    sb.write_book(
        d / "b.xlsx",
        [sb.Sheet("S", rows, merges=("C3:C5",))],
        date1904=True,
        strings=["x", " y ", "z_x000D_"],
    )
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("供应商")
    for r in range(40):
        sheet.write(r, 0, f"S{r:03d}" if r else "编码")
        if r != 3:
            sheet.write(r, 1, r * 1.5 if r else "评分")
    sheet.row(3).set_cell_error(1, 0x2A)
    sheet.row(4).hidden = True
    book.save(str(d / "c.xls"))
    from pyxlsbwriter import XlsbWriter

    with XlsbWriter(str(d / "d.xlsb")) as writer:
        writer.add_sheet("S")
        writer.write_sheet(
            [
                ["编码", "数量", "日期"],
                *[[f"{i:04d}", i * 0.5, dt.datetime(2024, 1, 1 + i % 28)] for i in range(30)],
            ]
        )
    import pandas as pd

    frame = pd.DataFrame({"编码": [f"{i:04d}" for i in range(30)], "数量": [i / 4 for i in range(30)]})
    frame.to_excel(d / "e.ods", engine="odf", index=False, sheet_name="库存")
    from tests.extract.test_real_sheets import SPREADSHEETML

    (d / "f.xls").write_text(SPREADSHEETML, encoding="utf-8")
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("S")
    dated = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for r in range(30):
        sheet.write(r, 0, f"Müller {r}" if r else "Name")
        sheet.write(r, 1, -r * 1.5 if r else "日期", dated if r else xlwt.Style.default_style)
    book.save(str(d / "g.xls"))
    from tests.extract.test_real_sheets import LONG_TEXT, _with_codepage

    _with_codepage(d / "g.xls", 1252)  # read by xlrd: calamine mis-decodes it
    from tests.extract import biff_books as bb

    sst = bb.Sst()
    sst.add("备注", wide=True)
    sst.add_split(LONG_TEXT[:9000], runs=2, runs_cut=1)
    cells = [bb.label_sst(0, 0, 0), bb.label_sst(1, 0, 1), bb.formula_text(2, 0, bb.pieces(LONG_TEXT, 8000))]
    bb.save(d / "h.xls", bb.workbook("S", cells, sst))
    kinds = {
        "a.xlsx": "xlsx",
        "b.xlsx": "xlsx",
        "c.xls": "xls",
        "d.xlsb": "xlsb",
        "e.ods": "ods",
        "f.xls": "xls",
        "g.xls": "xls",
        "h.xls": "xls",
    }
    return {name: (kind, (d / name).read_bytes()) for name, kind in kinds.items()}


def _mutants(seeds: dict[str, tuple[str, bytes]], count: int, rng: random.Random):
    """(file name, kind, bytes): a few flipped bytes, or a truncation, of each seed in turn."""
    names = sorted(seeds)
    for i in range(count):
        seed = names[i % len(names)]
        kind, data = seeds[seed]
        data = bytearray(data)
        if rng.random() < 0.3:
            data = data[: rng.randrange(1, len(data))]
        else:
            for _ in range(rng.choice((1, 2, 4, 16))):
                data[rng.randrange(len(data))] = rng.randrange(256)
        yield f"f{i:04d}_{seed}", kind, bytes(data)


def _fuzz(tmp_path: Path, count: int, seed: int) -> None:
    seeds = _seeds(tmp_path)
    sources = {}
    for name, kind, data in _mutants(seeds, count, random.Random(seed)):
        (tmp_path / name).write_bytes(data)
        sources[f"f{name[1:5]}"] = {"kind": kind, "path": name, "sheet_pattern": "."}
    (tmp_path / "project.yaml").write_text(
        yaml.safe_dump({"name": "fuzz", "sources": sources}), encoding="utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tests.extract.fuzz_worker", str(tmp_path), str(CASE_SECONDS), *sources],
        capture_output=True,
        text=True,
        timeout=CASE_SECONDS * 4 + count * 2,
        cwd=Path(__file__).parents[2],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    stray = [line for line in lines if not line.startswith("{")]
    assert not stray, f"printed on stdout by a library: {stray[:3]}"
    results = [json.loads(line) for line in lines]
    peak = results.pop()["peak_kib"]
    bad = [r for r in results if r["escaped"] or r["code"] not in (0, 2) or r["seconds"] > CASE_SECONDS]
    assert not bad, json.dumps(bad[:3], ensure_ascii=False, indent=1)
    assert len(results) == count
    assert peak < PEAK_KIB, f"peak RSS {peak} KiB"
    outcomes = {r["code"] for r in results}
    assert outcomes == {0, 2}, outcomes  # the mutations both break files and leave some readable


def test_fuzzed_workbooks_end_in_exit_0_or_2(tmp_path):
    _fuzz(tmp_path, 120, seed=17)


@pytest.mark.slow
def test_fuzzed_workbooks_end_in_exit_0_or_2_many(tmp_path):
    _fuzz(tmp_path, 1000, seed=1700)
