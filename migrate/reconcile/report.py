"""The report as an xlsx workbook a QA person can read without the tool: a summary sheet,
control totals, traceability, then one sheet per entity listing its differences.

Formula-safe (DESIGN §6.9): every text cell is written as a string cell, so a value such as
`=HYPERLINK(...)`, `+1`, `-2` or `@SUM(...)` from legacy data stays text and never runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from migrate.reconcile.core import EntityReport, ReconcileReport

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_BOLD = Font(bold=True)

SUMMARY_HEADER = (
    "entity",
    "status",
    "expected rows",
    "rows in target",
    "matched",
    "missing in target",
    "only in target",
    "duplicate keys (expected)",
    "duplicate keys (target)",
    "rows with different values",
    "source rows",
    "rejected",
    "filtered",
    "accounting adds up",
    "control totals past tolerance",
)


def write_xlsx(report: ReconcileReport, path: Path) -> Path:
    wb = Workbook(write_only=True)
    _sheet(wb, "Summary", SUMMARY_HEADER, [_summary_row(e) for e in report.entities])
    _sheet(
        wb,
        "Control totals",
        ("entity", "total", "group", "source", "target", "difference", "status"),
        [row for e in report.entities for row in _total_rows(e)],
    )
    _sheet(
        wb,
        "Traceability",
        (
            "check",
            "description",
            "status",
            "breaks in source",
            "breaks in target",
            "new break in target (key)",
        ),
        [row for t in report.traceability for row in _trace_rows(t.to_dict())],
    )
    for e in report.entities:
        key = list(e.rows.key)
        header = ("difference", *key, "column", "expected", "actual", "delta")
        _sheet(wb, e.entity[:31], header, [_difference_row(d.to_dict(), key) for d in e.rows.details])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _sheet(wb: Workbook, title: str, header, rows) -> None:
    ws = wb.create_sheet(title)
    ws.append([_cell(ws, h, bold=True) for h in header])
    for row in rows:
        ws.append([_cell(ws, v) for v in row])


def _cell(ws, value: Any, bold: bool = False) -> WriteOnlyCell:
    if isinstance(value, dict | list):
        value = str(value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
    if bold:
        cell.font = _BOLD
    return cell


def _summary_row(e: EntityReport) -> list[Any]:
    r, a = e.rows, e.accounting
    return [
        e.entity,
        "OK" if e.ok else "DIFFERENCES",
        r.expected_rows,
        a.in_target,
        r.matched_rows,
        r.missing,
        r.only_in_target,
        r.duplicate_keys_expected,
        r.duplicate_keys_actual,
        r.unequal_rows,
        a.source_rows,
        a.rejected,
        a.filtered,
        "yes" if a.adds_up else "NO",
        sum(len(t.past_tolerance()) for t in e.totals),
    ]


def _total_rows(e: EntityReport):
    for t in e.totals:
        bad = t.past_tolerance()
        for group, (s, tg) in sorted(t.groups.items()):
            yield [
                e.entity,
                t.name,
                group,
                float(s),
                float(tg),
                float(tg - s),
                "PAST TOLERANCE" if group in bad else "ok",
            ]


def _trace_rows(t: dict[str, Any]):
    waiting = f"{t['status']}: {', '.join(t['waiting_for'])}"
    status = waiting if not t["applicable"] else ("OK" if t["ok"] else "NEW BREAKS")
    base = [t["name"], t["description"], status, t["breaks_in_source"], t["breaks_in_target"]]
    if not t["new_in_target"]:
        yield [*base, ""]
    for key in t["new_in_target"]:
        yield [*base, "; ".join(f"{k}={v}" for k, v in key.items())]


def _difference_row(d: dict[str, Any], key: list[str]) -> list[Any]:
    label = {
        "missing": "missing in target",
        "only_in_target": "only in target",
        "duplicate": "duplicate key",
        "value": "different value",
    }[d["kind"]]
    keys = [d["key"].get(k) for k in key]
    if d["kind"] == "duplicate":
        return [label, *keys, f"{d['side']} side", f"{d['count']} rows", None, None]
    if d["kind"] != "value":
        return [label, *keys, None, None, None, None]
    return [label, *keys, d["column"], d["expected"], d["actual"], d.get("delta")]
