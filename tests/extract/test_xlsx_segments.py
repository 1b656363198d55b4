"""The segmented xlsx path (readers/segments.py: a big sheet's XML cut at row boundaries into small
workbooks, read by fastexcel in worker processes) stages exactly what the whole-sheet fast path
and the cell-typed calamine path stage: same rows and lineage, same `stg_columns`, same counts
and warnings. Each case is extracted three ways from one real workbook:

- segmented: SEGMENT_BYTES patched down to a few KiB, so every sheet is read in dozens of segments
  and its features (hidden rows, empty runs, stop rows, late columns) land on segment boundaries;
- whole: SEGMENT_BYTES as shipped, the sheets read whole (fastexcel, or calamine when it refuses);
- calamine: the fast path switched off (`fast.read_fast` -> None) and segments with it.

Every segmented run also checks that its scratch directory (MIGRATE_SCRATCH_DIR) is left empty and
that no worker process outlives the extract, whether it succeeded or failed."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import openpyxl
import psutil
import pytest

from migrate.errors import MigrateError
from migrate.extract import SourceResult, extract
from migrate.extract.readers import fast
from migrate.extract.readers.workbook import Workbook
from migrate.extract.staging import staged_columns
from migrate.store import WorkStore
from tests.extract import segment_books as sb
from tests.extract.helpers import make_project, staged

TINY = 8192  # bytes per segment: a 2,000-row ledger sheet (~540 KB of XML) is cut ~65 times
NEVER = 1 << 62  # no sheet is this big: segments off
SEGMENTED = "fastexcel-segments"
LINEAGE_NOISE = ("_row_id", "_run")


@pytest.fixture
def segments():
    """The module under test, imported here so a missing module fails each test (not collection)."""
    from migrate.extract.readers import segments

    return segments


@dataclass(frozen=True)
class Run:
    """One extract of source `s`: its result, staged rows (without run ids), staged columns, the
    sheets read whole (`Workbook.read_fast` -> "fastexcel", `Workbook.read` -> "cells": the
    calamine / openpyxl path; the others were read in segments), and for each sheet cut into
    segments the first row of each segment (0 for the first segment: its header leads)."""

    result: SourceResult
    rows: list[dict]
    columns: list[tuple[str, str]]
    whole: dict[str, str]
    starts: list[list[int]] = field(default_factory=list)

    @property
    def sheet_readers(self) -> dict[str, str]:
        """Sheet -> how it was read, in staging order."""
        return {sheet: self.whole.get(sheet, SEGMENTED) for sheet in self.result.sheets}


class Runs(NamedTuple):
    cut: Run  # segmented
    ref: Run  # calamine, the reference


@dataclass
class Guarded:
    """What a segmented run left behind: scratch entries, live child processes it started."""

    scratch: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)


def _extract(project, monkeypatch, *, seg_bytes: int | None, fast_on: bool = True) -> Run:
    whole: dict[str, str] = {}
    read, read_fast = Workbook.read, Workbook.read_fast

    def by_cells(book, name, *args, **kwargs):
        whole[name] = "cells"
        return read(book, name, *args, **kwargs)

    def by_fastexcel(book, name, *args, **kwargs):
        rows = read_fast(book, name, *args, **kwargs)
        if rows is not None:
            whole[name] = "fastexcel"
        return rows

    starts: list[list[int]] = []
    with monkeypatch.context() as patch:
        patch.setattr(Workbook, "read", by_cells)
        patch.setattr(Workbook, "read_fast", by_fastexcel)
        if seg_bytes is not None:
            from migrate.extract.readers import segments

            patch.setattr(segments, "SEGMENT_BYTES", seg_bytes)
            _record_starts(patch, segments, starts)
        if not fast_on:
            patch.setattr(fast, "read_fast", lambda *args: None)
        result = extract(project, force=True).sources[0]
    rows = [{k: v for k, v in r.items() if k not in LINEAGE_NOISE} for r in staged(project, "s")]
    store = WorkStore(project.staging_url)
    try:
        columns = staged_columns(store, "s")
    finally:
        store.dispose()
    return Run(result, rows, columns, whole, starts)


def _record_starts(patch, segments, starts: list[list[int]]) -> None:
    """Where the cutter cut (segments.Cutter), so a test can show its features sit on boundaries.
    A segment numbered 0 opens a new sheet."""
    cutter = getattr(segments, "Cutter", None)
    if cutter is None:
        return  # the boundary assertions then fail, saying no sheet was seen cut
    for method in ("feed", "finish"):
        original = getattr(cutter, method)

        def spy(self, *args, _original=original):
            done = _original(self, *args)
            for segment in done:
                if segment.index == 0:
                    starts.append([])
                starts[-1].append(segment.first_row)
            return done

        patch.setattr(cutter, method, spy)


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _left_behind(scratch: Path, before: set[int]) -> Guarded:
    """Scratch entries (in MIGRATE_SCRATCH_DIR, and any of ours in the default places: /dev/shm,
    the temp dir) and child processes (not there before the run) still alive 1 s after it.
    multiprocessing's resource tracker is left out: one per Python process, started with the first
    spawned pool and living as long as the test process, by design."""
    new = []
    for pid in _children() - before:
        try:
            process = psutil.Process(pid)
            if not any("resource_tracker" in part for part in process.cmdline()):
                new.append(process)
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(new, timeout=1.0)
    return Guarded(
        sorted(p.name for p in scratch.iterdir()) + _ours_in_default_scratch(),
        [f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in alive if p.is_running()],
    )


def _ours_in_default_scratch() -> list[str]:
    """Entries of this process's extracts in /dev/shm or the temp dir (named for migrate and our pid:
    other processes on the machine may use those places at the same time)."""
    pid = str(os.getpid())
    found = []
    for place in (Path("/dev/shm"), Path(tempfile.gettempdir())):
        if place.is_dir():
            found += [str(p) for p in place.glob("*migrate*") if pid in p.name]
    return found


def _segmented(project, monkeypatch, tmp_path: Path, seg_bytes: int = TINY, declared: bool = True) -> Run:
    """The segmented extract, MIGRATE_SCRATCH_DIR set to a directory of the test's (or unset when
    not `declared`): nothing left in it, in the default scratch places, or running afterwards."""
    scratch = _scratch(tmp_path, monkeypatch)
    if not declared:
        monkeypatch.delenv("MIGRATE_SCRATCH_DIR")
    before = _children()
    run = _extract(project, monkeypatch, seg_bytes=seg_bytes)
    assert _left_behind(scratch, before) == Guarded()
    return run


def _scratch(tmp_path: Path, monkeypatch) -> Path:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    monkeypatch.setenv("MIGRATE_SCRATCH_DIR", str(scratch))
    return scratch


def _summary(result: SourceResult) -> tuple:
    return (result.rows, result.sheets, result.skipped, result.warnings, result.hidden_sheets)


def _first_difference(got: list[dict], want: list[dict]) -> str:
    """Where two staged tables part (a readable assertion message for thousands of rows)."""
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            return f"row #{i} (sheet {b.get('_sheet')}, row {b.get('_row')}): " + ", ".join(
                f"{k}: {a.get(k)!r} != {b.get(k)!r}" for k in keys
            )
    return (
        f"{len(got)} rows staged, {len(want)} expected; first extra: {(got + want)[min(len(got), len(want))]}"
    )


def _assert_same(got: Run, want: Run, what: str) -> None:
    assert got.columns == want.columns, f"{what}: stg_columns differ"
    assert got.rows == want.rows, f"{what}: {_first_difference(got.rows, want.rows)}"
    assert _summary(got.result) == _summary(want.result), f"{what}: counts or warnings differ"


def three_ways(
    tmp_path: Path,
    monkeypatch,
    spec: dict,
    *,
    whole: dict[str, str] | None = None,
    staging: str | None = None,
    scratch_declared: bool = True,
) -> Runs:
    """Segmented, whole and calamine extracts of `spec` agree; the segmented one read in segments
    every sheet but those in `whole` (sheet -> "fastexcel" or "cells": read whole, by design)."""
    project = make_project(tmp_path, {"s": spec}, staging=staging)
    cut = _segmented(project, monkeypatch, tmp_path, declared=scratch_declared)
    entire = _extract(project, monkeypatch, seg_bytes=None)
    reference = _extract(project, monkeypatch, seg_bytes=NEVER, fast_on=False)
    assert reference.result.reader == "calamine"
    assert entire.result.reader != SEGMENTED, "the shipped SEGMENT_BYTES cuts a test-sized sheet"
    assert cut.whole == (whole or {}), "sheets read whole in the segmented run"
    named = [{"cells": "calamine"}.get(r, r) for r in cut.sheet_readers.values()]
    assert cut.result.reader == ", ".join(dict.fromkeys(named))  # every reader used, in order
    _assert_same(cut, reference, "segmented vs calamine")
    _assert_same(entire, reference, "whole sheet vs calamine")
    assert reference.result.rows > 0
    return Runs(cut, reference)


def _starts(run: Run, sheet_index: int = 0, at_least: int = 20) -> list[int]:
    """The segment starts of the `sheet_index`-th sheet read in segments; there are dozens."""
    assert len(run.starts) > sheet_index, f"only {len(run.starts)} sheets were cut into segments"
    starts = run.starts[sheet_index]
    assert len(starts) >= at_least, f"{len(starts)} segments"
    return starts


def _values(run: Run, column: str, sheet: str | None = None) -> list:
    return [r[column] for r in run.rows if sheet is None or r["_sheet"] == sheet]


# ---------------------------------------------------------------- cell kinds


def _plain_book(path: Path, epoch_1904: bool) -> None:
    """openpyxl's workbook (shared strings, its own styles): every cell kind the fast path takes."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "台账"
    ws.append(["编码", "长编码", "整数", "小数", "日期", "时间戳", "标志", "备注", "大数"])
    notes = ["NA", "N/A", "NULL", None, "  x  ", "0042"]
    big = [1e21, 1e-7, 2.5e-5, 123456789012345.6, -0.0]
    for r in range(2, sb.ROWS + 2):
        ws.append(
            [
                f"{r:06d}",
                f"{98765432100000000 + r}",
                r * 3 - 1000,
                0.1 * r + 0.2,
                dt.date(1999, 12, 31) + dt.timedelta(days=r),
                dt.datetime(2024, 1, 5, 13, 30, 15) + dt.timedelta(hours=r),
                r % 2 == 0,
                notes[r % len(notes)],
                big[r % len(big)],
            ]
        )
    if epoch_1904:
        wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    wb.save(path)


@pytest.mark.parametrize("epoch_1904", [False, True], ids=["1900", "1904"])
def test_plain_cells_of_every_kind(tmp_path, monkeypatch, segments, epoch_1904):
    _plain_book(tmp_path / "p.xlsx", epoch_1904)
    cut, ref = three_ways(tmp_path, monkeypatch, {"kind": "xlsx", "path": "p.xlsx"})
    _starts(cut)
    assert ref.result.rows == sb.ROWS
    first = ref.rows[0]
    assert (first["编码"], first["长编码"], first["日期"]) == ("000002", "98765432100000002", "2000-01-02")
    assert first["时间戳"] == "2024-01-05 15:30:15" and first["标志"] == "TRUE"
    assert {"NA", "N/A", "NULL", "0042"} <= set(_values(ref, "备注"))
    assert [r["_row"] for r in ref.rows] == list(range(2, sb.ROWS + 2))


def test_shared_and_inline_strings(tmp_path, monkeypatch, segments):
    """Inline and shared strings, empty ones among them, in separate sheets and mixed in one."""
    strings = ["编码", "值", "", "NA", "  ", "00123", "12345678901234567", "a&b"]

    def only_shared(r: int) -> list[str]:
        return [sb.shared(f"A{r}", 5 + r % 3), sb.shared(f"B{r}", r % len(strings))]

    def only_inline(r: int) -> list[str]:
        return [sb.inline(f"A{r}", f"{r:07d}"), sb.inline(f"B{r}", ["", " ", "NA", "x"][r % 4])]

    def mixed(r: int) -> list[str]:
        return only_shared(r) if (r // 37) % 2 else only_inline(r)

    header = sb.row(1, [sb.shared("A1", 0), sb.shared("B1", 1)])
    sheets = [
        sb.Sheet(name, [header] + [sb.row(r, cells(r)) for r in range(2, sb.ROWS + 2)])
        for name, cells in (("共享", only_shared), ("内联", only_inline), ("混合", mixed))
    ]
    sb.write_book(tmp_path / "s.xlsx", sheets, strings=strings)
    spec = {"kind": "xlsx", "path": "s.xlsx", "sheet_pattern": "."}
    cut, ref = three_ways(tmp_path, monkeypatch, spec, scratch_declared=False)  # default scratch places
    assert len(cut.starts) == 3
    assert set(ref.result.sheets) == {"共享", "内联", "混合"}
    assert {"00123", "12345678901234567", "a&b", "NA"} <= set(_values(ref, "编码") + _values(ref, "值"))


# ---------------------------------------------------------------- hidden and empty rows


def _layout_book(path: Path) -> None:
    """Three sheets: hidden rows (every 13th, a run spanning whole segments, the first and last
    data rows); empty rows of every kind in runs longer than a segment; only a header."""
    hidden = sb.ledger("隐藏", hidden=lambda r: r % 13 == 0 or 900 <= r <= 1150 or r in (2, sb.ROWS + 1))

    def holes(r: int) -> list[str] | None:
        if 500 <= r < 800:
            return None  # no <row> element at all
        if 1000 <= r < 1200:
            return []  # <row r="..."/> without cells
        if 1300 <= r < 1500 or r % 17 == 0:
            return [sb.styled(f"A{r}"), sb.styled(f"C{r}"), sb.styled(f"F{r}")]
        if 1600 <= r < 1650:
            return [sb.inline(f"A{r}", ""), sb.inline(f"B{r}", "")]  # empty inline strings
        return sb.ledger_cells(r)

    empty = sb.ledger(
        "空行", rows=sb.ROWS + 300, cells=lambda r: holes(r) if r <= sb.ROWS else [sb.styled(f"B{r}")]
    )
    header_only = sb.Sheet(
        "仅表头",
        [sb.header_row(1)] + [sb.row(r, [sb.styled(f"A{r}"), sb.styled(f"E{r}")]) for r in range(2, 3000)],
    )
    sb.write_book(path, [hidden, empty, header_only])


@pytest.mark.parametrize("skip_empty_rows", [True, False], ids=["skip-empty", "keep-empty"])
@pytest.mark.parametrize("include_hidden", [False, True], ids=["hidden-out", "hidden-in"])
def test_hidden_and_empty_rows(tmp_path, monkeypatch, segments, include_hidden, skip_empty_rows):
    _layout_book(tmp_path / "l.xlsx")
    spec = {
        "kind": "xlsx",
        "path": "l.xlsx",
        "sheet_pattern": ".",
        "include_hidden": include_hidden,
        "skip_empty_rows": skip_empty_rows,
    }
    # a sheet with nothing under its header is read whole (the first segment's layout has no header)
    cut, ref = three_ways(tmp_path, monkeypatch, spec, whole={"仅表头": "fastexcel"})
    hidden, empty, header_only = (_starts(cut, i) for i in range(3))
    assert any(r % 13 == 0 for r in hidden), "no segment starts with a hidden row"
    assert any(900 < a < b <= 1150 for a, b in pairwise(hidden)), "no segment all hidden"
    assert any(1300 < a < b < 1500 for a, b in pairwise(empty)), "no segment all styled-empty"
    assert len(header_only) > 10
    hidden_rows = {r["_row"] for r in ref.rows if r["_sheet"] == "隐藏"}
    assert (1000 in hidden_rows) is include_hidden and (
        ref.result.skipped.get("hidden_row", 0) > 0
    ) is not include_hidden
    empty_rows = {r["_row"] for r in ref.rows if r["_sheet"] == "空行"}
    assert (600 in empty_rows) is not skip_empty_rows and (1100 in empty_rows) is not skip_empty_rows
    assert (ref.result.skipped.get("empty_row", 0) > 500) is skip_empty_rows


@pytest.mark.postgres
def test_a_postgresql_work_store_stages_the_same(tmp_path, monkeypatch, segments, pg_url):
    _layout_book(tmp_path / "l.xlsx")
    spec = {"kind": "xlsx", "path": "l.xlsx", "sheet_pattern": ".", "skip_empty_rows": False}
    _, ref = three_ways(tmp_path, monkeypatch, spec, staging=pg_url, whole={"仅表头": "fastexcel"})
    assert ref.result.sheets["仅表头"] == len([r for r in ref.rows if r["_sheet"] == "仅表头"])


# ---------------------------------------------------------------- layout options


def _stop_book(path: Path) -> None:
    """A total row (合计) in a middle segment, filled rows after it (one with an extra column that
    must not widen the header); 合计 earlier in a non-first cell, and on a hidden row."""

    def cells(r: int) -> list[str]:
        if r == 150:
            return [sb.inline("A150", "小计"), sb.num("C150", 99)]
        if r == 1200:
            return [sb.inline("A1200", "合计"), sb.num("C1200", 1234.5)]
        if r == 300:
            return sb.ledger_cells(r)[:4] + [sb.inline("E300", "合计")]
        if r == 700:
            return [sb.inline("A700", "合计 (隐藏)"), sb.num("C700", 1)]
        if r == 1500:
            return sb.ledger_cells(r) + [sb.inline("G1500", "after the total")]
        return sb.ledger_cells(r)

    sb.write_book(path, [sb.ledger("月报", cells=cells, hidden=lambda r: r == 700)])


@pytest.mark.parametrize(
    "options",
    [
        {"stop_at": "^合计"},
        {"stop_at": "^合计", "include_hidden": True, "skip_empty_rows": False},
        {"stop_at": "^小计"},
    ],
    ids=["stop", "stop-at-hidden-row", "stop-in-first-segment"],
)
def test_stop_row_in_a_middle_segment(tmp_path, monkeypatch, segments, options):
    _stop_book(tmp_path / "t.xlsx")
    cut, ref = three_ways(tmp_path, monkeypatch, {"kind": "xlsx", "path": "t.xlsx", **options})
    starts = _starts(cut)
    assert 150 < starts[1] < 700 and any(1200 < s for s in starts), "the stop rows are not where meant"
    last = 149 if "小计" in options["stop_at"] else 699 if options.get("include_hidden") else 1199
    assert ref.rows[-1]["_row"] == last and ref.result.skipped["stop_row"] == 1
    assert ref.result.skipped["after_stop"] >= sb.ROWS + 1 - last - 2
    assert "column_g" not in ref.rows[0]


def test_title_rows_above_the_header(tmp_path, monkeypatch, segments):
    """Title rows above a detected header: a few at the top, or enough of them that the header
    starts in the second segment."""
    short = sb.ledger(
        "短标题",
        start=5,
        header_at=4,
        before=[sb.row(1, [sb.inline("A1", "批次台账 2024年3月")]), sb.row(2, [sb.inline("B2", "单位: kg")])],
    )
    notes = [sb.row(r, [sb.inline(f"A{r}", f"说明 {r}: " + "手工录入" * 60)]) for r in range(1, 30)]
    long = sb.ledger("长标题", start=31, header_at=30, before=notes)
    sb.write_book(tmp_path / "t.xlsx", [short, long])
    # the title row is fastexcel's header in the first segment, over numeric columns: fastexcel
    # refuses that segment, which is then read by cells; the later segments stay fast
    whole: dict[str, str] = {}
    spec = {"kind": "xlsx", "path": "t.xlsx", "sheet_pattern": "标题$"}
    cut, ref = three_ways(tmp_path, monkeypatch, spec, whole=whole)
    assert len(cut.starts) == 2
    assert ref.result.skipped["above_header"] == 2 + 29
    assert [c for c, _ in ref.columns] == ["编码", "长编码", "数量", "日期", "备注"]


def test_two_header_rows(tmp_path, monkeypatch, segments):
    """A title, then a two-row header (group names over column names) flattened to one name."""
    groups = sb.row(2, [sb.inline("A2", "物料"), sb.inline("C2", "库存"), sb.inline("D2", "库存")])
    book = sb.ledger("双表头", start=4, header_at=3, before=[sb.row(1, [sb.inline("A1", "2024 年")]), groups])
    sb.write_book(tmp_path / "h.xlsx", [book])
    spec = {"kind": "xlsx", "path": "h.xlsx", "header_row": 2, "header_rows": 2}
    cut, ref = three_ways(tmp_path, monkeypatch, spec)
    _starts(cut)
    assert [o for _, o in ref.columns][:4] == ["物料 编码", "长编码", "库存 数量", "库存 日期"]
    assert ref.rows[0]["_row"] == 4


def _several_book(path: Path) -> None:
    """Monthly sheets picked by pattern (one hidden, one not matching), each with its own columns."""
    sheets = [
        sb.ledger("2024-01", rows=1500),
        sb.ledger(
            "2024-02",
            rows=1800,
            cells=lambda r: sb.ledger_cells(r) + [sb.inline(f"F{r}", "新列")] * (r > 1700),
        ),
        sb.Sheet("2024-03", sb.ledger("x", rows=900).rows, hidden=True),
        sb.ledger("汇总", rows=600),
        sb.Sheet("2024-04", [sb.header_row(1, ["编码", "数量", "新列", "备注"])] + sb.ledger("y").rows[1:]),
    ]
    sb.write_book(path, sheets)


@pytest.mark.parametrize("include_hidden", [False, True], ids=["visible", "hidden-too"])
def test_several_sheets_by_pattern(tmp_path, monkeypatch, segments, include_hidden):
    _several_book(tmp_path / "m.xlsx")
    spec = {
        "kind": "xlsx",
        "path": "m.xlsx",
        "sheet_pattern": r"^\d{4}-\d{2}$",
        "include_hidden": include_hidden,
    }
    cut, ref = three_ways(tmp_path, monkeypatch, spec)
    assert len(cut.starts) == 3 + include_hidden
    months = ["2024-01", "2024-02"] + ["2024-03"] * include_hidden + ["2024-04"]
    assert list(ref.result.sheets) == months and ref.result.hidden_sheets == ("2024-03",)


# ---------------------------------------------------------------- columns that change between segments


def _kinds_case(name: str) -> tuple[Callable[[int], list[str] | None], dict]:
    """Per case: a ledger row builder, and extra spec options."""

    def late_columns(r: int) -> list[str]:
        extra = [sb.inline(f"G{r}", f"g{r}")] if 1500 <= r < 1510 else []
        extra += [sb.num(f"I{r}", r)] if r == 1990 else []
        return sb.ledger_cells(r) + extra

    def mixed(r: int) -> list[str]:
        cells = sb.ledger_cells(r)
        cells[2] = sb.inline(f"C{r}", f"约 {r} kg") if 700 <= r < 1400 else cells[2]
        return cells

    def time_of_day(r: int) -> list[str]:
        cells = sb.ledger_cells(r)
        if 1000 <= r < 1040:
            cells[3] = sb.num(f"D{r}", (r % 96) / 96, sb.TIME)
        return cells

    def duration(r: int) -> list[str]:
        extra = [sb.num(f"F{r}", 1 + (r % 48) / 24, sb.DURATION)] if 1200 <= r < 1230 else []
        return sb.ledger_cells(r) + extra

    def formula(r: int) -> list[str]:
        cells = sb.ledger_cells(r)
        if r in (1500, 1501, 1777):
            cells[2] = sb.formula(f"C{r}", f"C{r - 1}*2")
        elif r % 50 == 0:
            cells[2] = sb.formula(f"C{r}", f"C{r - 1}+1", cached=str(r))
        return cells

    def na_texts(r: int) -> list[str]:
        """The texts fastexcel reads as null in a column of numbers, dates or booleans."""
        cells = sb.ledger_cells(r) + [sb.boolean(f"F{r}", r % 2 == 0)]
        if r % 97 == 0 or r == 100:
            texts = ["NA", "N/A", "NULL", "#N/A", "null", "nan", "None", "n/a"]
            text = texts[(r // 97) % len(texts)]
            cells[2] = sb.inline(f"C{r}", text)  # among numbers
            cells[3] = sb.shared(f"D{r}", sb.NOTES.index("N/A"))  # among dates
            cells[5] = sb.inline(f"F{r}", text)  # among booleans
        return cells

    def long_rows(r: int) -> list[str]:
        cells = sb.ledger_cells(r)
        if r % 150 == 0:  # a row longer than a segment (TINY bytes)
            cells[4] = sb.inline(f"E{r}", f"{r}: " + "长备注 𠮷 😀 " * 1500)
        return cells

    return {
        "rows-longer-than-a-segment": (long_rows, {}),
        "na-texts-in-typed-columns": (na_texts, {}),
        "late-columns": (late_columns, {}),
        "number-and-text": (mixed, {}),
        "time-of-day": (time_of_day, {}),
        "duration": (duration, {}),
        "formula-without-value": (formula, {}),
    }[name]


@pytest.mark.parametrize(
    "name",
    [
        "rows-longer-than-a-segment",
        "na-texts-in-typed-columns",
        "late-columns",
        "number-and-text",
        "time-of-day",
        "duration",
        "formula-without-value",
    ],
)
def test_columns_that_change_between_segments(tmp_path, monkeypatch, segments, name):
    cells, options = _kinds_case(name)
    sb.write_book(tmp_path / "k.xlsx", [sb.ledger("表", cells=cells)])
    cut, ref = three_ways(tmp_path, monkeypatch, {"kind": "xlsx", "path": "k.xlsx", **options})
    assert _starts(cut)[1] < 700, "the changes are not in later segments"
    if name == "rows-longer-than-a-segment":
        assert len(_values(ref, "备注")[148]) > 3 * TINY // 4  # row 150, whole
    if name == "na-texts-in-typed-columns":
        assert [r["数量"] for r in ref.rows if r["_row"] in (97, 100, 194, 776)] == [
            "N/A",
            "N/A",
            "NULL",
            "NA",
        ]
        assert {r["日期"] for r in ref.rows if r["_row"] % 97 == 0} == {"N/A"}
    if name == "late-columns":
        assert [c for c, _ in ref.columns][5:] == ["column_f", "column_g", "column_h", "column_i"]
        assert _values(ref, "column_i")[-12] == "1990"
    if name == "formula-without-value":
        assert [w.split(", ")[2] for w in ref.result.warnings] == ["row 1500", "row 1501", "row 1777"]
    if name in ("time-of-day", "duration"):
        assert any(v and ":" in v for v in _values(ref, "日期" if name == "time-of-day" else "column_f"))


def _column_a_book(path: Path, header_a: bool) -> None:
    """Column A empty in the rows up to 999 (with its header cell or without), filled after."""

    def cells(r: int) -> list[str]:
        got = sb.ledger_cells(r)
        return got if r >= 1000 else got[1:]

    sheet = sb.ledger("表", cells=cells)
    if not header_a:
        sheet = sb.Sheet("表", [sb.header_row(1, sb.LEDGER_HEADER[1:], first=1)] + sheet.rows[1:])
    sb.write_book(path, [sheet])


def test_column_a_empty_in_later_segments(tmp_path, monkeypatch, segments):
    """The header fills column A, the rows below it leave A empty for many segments: those
    segments' columns must still start at A."""
    _column_a_book(tmp_path / "a.xlsx", header_a=True)
    cut, ref = three_ways(tmp_path, monkeypatch, {"kind": "xlsx", "path": "a.xlsx"})
    assert _starts(cut)[1] < 900
    assert _values(ref, "编码")[:3] == [None] * 3 and _values(ref, "编码")[-1] == f"{sb.ROWS + 1:06d}"


def test_column_a_empty_in_the_first_segment(tmp_path, monkeypatch, segments):
    """Column A empty in the whole first segment, header included: a segment's columns cannot be
    placed from its own cells, so the sheet is read whole (as segments.Cutter documents) and
    stages the same rows."""
    _column_a_book(tmp_path / "a.xlsx", header_a=False)
    _, ref = three_ways(tmp_path, monkeypatch, {"kind": "xlsx", "path": "a.xlsx"}, whole={"表": "fastexcel"})
    assert [c for c, _ in ref.columns][:2] == ["column_a", "长编码"]
    assert _values(ref, "column_a")[:3] == [None] * 3 and _values(ref, "column_a")[-1] == f"{sb.ROWS + 1:06d}"


@pytest.mark.parametrize("seed", [1, 2, 3, 14])  # 14: "NA" among numbers
def test_random_sheets_stage_as_calamine(tmp_path, monkeypatch, segments, seed):
    """Random sheets (kinds changing every few hundred rows, every kind of empty and hidden row,
    cells right of the header, a total row): segmented and calamine agree, whichever way each
    sheet ends up read."""
    import random

    rng = random.Random(seed)
    stop = rng.randint(300, 1400)
    sheets = [sb.random_sheet(f"随机{i}", rng, stop_row=stop if i == 2 else None) for i in range(3)]
    sb.write_book(tmp_path / "r.xlsx", sheets)
    spec = {
        "kind": "xlsx",
        "path": "r.xlsx",
        "sheet_pattern": ".",
        "include_hidden": rng.random() < 0.5,
        "skip_empty_rows": rng.random() < 0.5,
        "stop_at": "^合计$",
    }
    project = make_project(tmp_path, {"s": spec})
    cut = _segmented(project, monkeypatch, tmp_path)
    reference = _extract(project, monkeypatch, seg_bytes=NEVER, fast_on=False)
    _assert_same(cut, reference, f"seed {seed}: segmented vs calamine")
    assert SEGMENTED in cut.sheet_readers.values(), cut.sheet_readers
    assert reference.result.skipped["stop_row"] == 1


# pandas' default na_values, which fastexcel reads as null in a column it types as numbers, dates
# or booleans (texts it does not know there, "NAN" or "inf", make it refuse the column instead)
NULL_LIKE = ["#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>"]
NULL_LIKE += ["N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null", "#N/A"]


def test_null_like_texts_among_typed_cells_are_kept_by_the_whole_sheet_path(tmp_path, monkeypatch):
    """No segments here: the whole-sheet fast path against calamine, one text per row under a
    number, a date and a boolean (issue 3: `NA`/`NULL`/`N/A` kept as text)."""

    def cells(r: int) -> list[str]:
        if r % 10 == 0 and r // 10 <= len(NULL_LIKE):
            text = NULL_LIKE[r // 10 - 1]
            return [
                sb.inline(f"A{r}", text),
                sb.shared(f"B{r}", sb.NOTES.index("NA")),
                sb.inline(f"C{r}", text),
            ]
        return [sb.num(f"A{r}", r / 4), sb.num(f"B{r}", 45000 + r, sb.DATE), sb.boolean(f"C{r}", r % 3 == 0)]

    rows = [sb.header_row(1, ["数量", "日期", "合格"])] + [sb.row(r, cells(r)) for r in range(2, 200)]
    sb.write_book(tmp_path / "n.xlsx", [sb.Sheet("S", rows)])
    project = make_project(tmp_path, {"s": {"kind": "xlsx", "path": "n.xlsx"}})
    typed = _extract(project, monkeypatch, seg_bytes=None, fast_on=False)  # not big enough for segments
    assert [r["数量"] for r in typed.rows if r["_row"] % 10 == 0][: len(NULL_LIKE)] == NULL_LIKE
    quick = _extract(project, monkeypatch, seg_bytes=None)
    _assert_same(quick, typed, "whole sheet vs calamine")


# ---------------------------------------------------------------- failures and fallbacks


def _fallback_book(path: Path, kind: str) -> None:
    """A ledger whose one late feature sends the sheet to calamine: an error cell, a merged range
    (always after <sheetData>), cells without an `r` reference."""

    def cells(r: int) -> list[str]:
        if kind == "error-cell" and r == 1800:
            return sb.ledger_cells(r)[:4] + [sb.error(f"E{r}", "#DIV/0!")]
        if kind == "cells-without-ref" and r >= 1700:
            return [f"<c><v>{r}</v></c>", f'<c t="inlineStr"><is><t>n{r}</t></is></c>']
        return sb.ledger_cells(r)

    rows = sb.ledger("表", cells=cells).rows
    if kind == "rows-without-r":  # from row 1700 on, as some writers leave `r` out of rows
        rows = rows[:1699] + [x.replace(f' r="{n}"', "", 1) for n, x in enumerate(rows[1699:], 1700)]

    merges = ("E1500:E1502", "A1900:B1900") if kind == "merged-range" else ()
    sheet = sb.Sheet("表", rows, merges=merges)
    sb.write_book(path, [sheet, sb.ledger("乙", rows=1200)])


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("error-cell", "cells"),
        ("merged-range", "cells"),
        ("cells-without-ref", "cells"),
        ("rows-without-r", "fastexcel"),
    ],
)
def test_a_late_feature_sends_the_sheet_to_calamine(tmp_path, monkeypatch, segments, kind, path):
    """Found only near the end of the sheet's XML, after many segments were cut: that sheet is read
    whole (by calamine, or by fastexcel for rows it can place but segments cannot), the other one
    still in segments; the same rows staged, its segments' rows taken back, nothing left behind."""
    _fallback_book(tmp_path / "f.xlsx", kind)
    spec = {"kind": "xlsx", "path": "f.xlsx", "sheet_pattern": "."}
    project = make_project(tmp_path, {"s": spec})
    cut = _segmented(project, monkeypatch, tmp_path)
    reference = _extract(project, monkeypatch, seg_bytes=NEVER, fast_on=False)
    assert cut.sheet_readers == {"表": path, "乙": SEGMENTED}
    assert cut.result.reader == f"{ {'cells': 'calamine'}.get(path, path) }, {SEGMENTED}"
    _assert_same(cut, reference, "segmented vs calamine")
    notes = {r["_row"]: r["备注"] for r in reference.rows if r["_sheet"] == "表"}
    if kind == "error-cell":
        assert notes[1800] == "#DIV/0!"
    elif kind == "merged-range":  # not filled: each cell as stored (fill_merged would fill it)
        assert [notes[r] for r in (1500, 1501, 1502)] == [
            sb.NOTES[r % len(sb.NOTES)] for r in (1500, 1501, 1502)
        ]
    elif kind == "cells-without-ref":
        assert (
            notes[1750] is None and [r["长编码"] for r in reference.rows if r["_row"] == 1750][0] == "n1750"
        )


def _refused(
    project, monkeypatch, tmp_path: Path, seg_bytes: int, fast_on: bool = True
) -> tuple[str, Guarded]:
    scratch = _scratch(tmp_path, monkeypatch)
    before = _children()
    with pytest.raises(MigrateError) as caught:
        _extract(project, monkeypatch, seg_bytes=seg_bytes, fast_on=fast_on)
    assert caught.value.exit_code == 2
    return str(caught.value), _left_behind(scratch, before)


@pytest.mark.parametrize("damage", ["size-lie", "corrupt-middle"])
def test_a_part_refused_midway_fails_as_before(tmp_path, monkeypatch, segments, damage):
    """The sheet part turns out bad only after many segments were cut: the same refusal as with
    segments off, the previous staged rows kept whole, no scratch file or worker left."""
    sb.write_book(tmp_path / "b.xlsx", [sb.ledger("表")])
    project = make_project(tmp_path, {"s": {"kind": "xlsx", "path": "b.xlsx"}})
    good = _segmented(project, monkeypatch, tmp_path)
    part = "xl/worksheets/sheet1.xml"
    if damage == "size-lie":
        sb.lie_about_size(tmp_path / "b.xlsx", part, 300_000)  # still over 2 * TINY: segmented
    else:
        sb.corrupt_middle(tmp_path / "b.xlsx", part)
    message, left = _refused(project, monkeypatch, tmp_path, TINY)
    assert left == Guarded()
    assert message == _refused(project, monkeypatch, tmp_path, NEVER, fast_on=False)[0]
    assert "b.xlsx" in message and part in message
    assert [{k: v for k, v in r.items() if k not in LINEAGE_NOISE} for r in staged(project, "s")] == good.rows


class _Interrupt:
    """A progress display whose `advance` raises KeyboardInterrupt (Ctrl-C) at its nth call:
    the extract is stopped mid-sheet, segments being parsed and rows being staged."""

    def __init__(self, at: int) -> None:
        self.calls, self.at = 0, at

    def task(self, description: str, total: int | None = None) -> _Interrupt:
        return self

    def advance(self, amount: int = 1) -> None:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt

    def update(self, **_) -> None:
        pass


def test_ctrl_c_mid_sheet_leaves_nothing_behind(tmp_path, monkeypatch, segments):
    """Interrupted while segments are still being read: the previous rows kept, workers stopped,
    scratch removed, and the next run stages the sheet whole."""
    sb.write_book(tmp_path / "b.xlsx", [sb.ledger("表", rows=200)])
    project = make_project(tmp_path, {"s": {"kind": "xlsx", "path": "b.xlsx"}})
    assert extract(project).sources[0].rows == 200
    sb.write_book(tmp_path / "b.xlsx", [sb.ledger("表", rows=6000)])
    scratch = _scratch(tmp_path, monkeypatch)
    before = _children()
    monkeypatch.setattr(segments, "SEGMENT_BYTES", TINY)
    interrupt = _Interrupt(at=3)
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        extract(project, progress=interrupt)
    assert time.perf_counter() - started < 30 and interrupt.calls == 3
    assert _left_behind(scratch, before) == Guarded()
    assert [r["_row"] for r in staged(project, "s")] == list(range(2, 202))
    assert extract(project).sources[0].rows == 6000


def test_a_killed_worker_falls_back_to_reading_whole(tmp_path, monkeypatch, segments):
    """A segment worker is killed (as the OOM killer would) once the first sheet is being cut and
    parsed: both sheets still stage what calamine stages, and nothing is left behind."""
    sb.write_book(tmp_path / "w.xlsx", [sb.ledger("甲"), sb.ledger("乙", rows=1500)])
    project = make_project(tmp_path, {"s": {"kind": "xlsx", "path": "w.xlsx", "sheet_pattern": "."}})
    scratch = _scratch(tmp_path, monkeypatch)
    before = _children()
    killed = _kill_once_cut(monkeypatch, segments, before, newest=False)
    cut = _extract(project, monkeypatch, seg_bytes=TINY)
    assert killed and killed[0], "no worker process to kill"
    assert _left_behind(scratch, before) == Guarded()
    reference = _extract(project, monkeypatch, seg_bytes=NEVER, fast_on=False)
    _assert_same(cut, reference, "segmented (a worker killed) vs calamine")


def test_a_killed_ingest_process_is_a_work_store_error(tmp_path, monkeypatch, segments):
    """The newest child, the staging ingest process (started after the segment workers, before the
    first segment is cut), is killed: the run stages what calamine stages, or fails with a located
    MigrateError, the previous rows kept whole; nothing is left behind either way."""
    sb.write_book(tmp_path / "w.xlsx", [sb.ledger("甲", rows=100)])
    project = make_project(tmp_path, {"s": {"kind": "xlsx", "path": "w.xlsx", "sheet_pattern": "."}})
    assert extract(project).sources[0].rows == 100
    sb.write_book(tmp_path / "w.xlsx", [sb.ledger("甲"), sb.ledger("乙", rows=1500)])
    scratch = _scratch(tmp_path, monkeypatch)
    before = _children()
    killed = _kill_once_cut(monkeypatch, segments, before, newest=True)
    try:
        cut = _extract(project, monkeypatch, seg_bytes=TINY)
    except MigrateError as exc:
        assert "w.xlsx" in str(exc) or "work store" in str(exc), str(exc)
        assert [r["_row"] for r in staged(project, "s")] == list(range(2, 102))
        cut = None
    assert killed and killed[0], "no process to kill"
    assert _left_behind(scratch, before) == Guarded()
    if cut is not None:
        reference = _extract(project, monkeypatch, seg_bytes=NEVER, fast_on=False)
        _assert_same(cut, reference, "segmented (the ingest process killed) vs calamine")


def _kill_once_cut(monkeypatch, segments, before: set[int], newest: bool) -> list[str]:
    """Once the cutter has completed its first segments, kill the oldest (or newest) child started
    since `before`; the list receives its pid."""
    killed: list[str] = []
    feed = segments.Cutter.feed

    def feed_then_kill(cutter, *args):
        done = feed(cutter, *args)
        if done and not killed:
            killed.append(_kill_oldest_worker(before, newest=newest))
        return done

    monkeypatch.setattr(segments.Cutter, "feed", feed_then_kill)
    return killed


def _kill_oldest_worker(before: set[int], newest: bool = False) -> str:
    """SIGKILL the oldest (or newest) child process started since `before` (the segment workers
    start before the staging ingest process); its pid, or "" when there is none."""
    started = []
    for pid in _children() - before:
        try:
            process = psutil.Process(pid)
            if not any("resource_tracker" in part for part in process.cmdline()):
                started.append((process.create_time(), pid, process))
        except psutil.NoSuchProcess:
            continue
    if not started:
        return ""
    _, pid, process = max(started) if newest else min(started)
    process.kill()
    return str(pid)
