"""The report as an xlsx workbook a QA person can read without the tool: a summary sheet,
control totals, traceability, then one sheet per entity listing its differences.

Formula-safe (docs/guarantees.md#safe-reports): every text cell is written as a string cell, so a value such as
`=HYPERLINK(...)`, `+1`, `-2` or `@SUM(...)` from legacy data stays text and never runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from migrate.reconcile.core import EntityReport, ReconcileReport
from migrate.worksheets import EXCEL_MAX_ROWS, write_table

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
    "differences listed",
)


@dataclass(frozen=True)
class RunFacts:
    """Who ran the reconcile, where and on what: the first lines of the summary sheet."""

    operator: str
    project_fingerprint: str
    generated_at: str  # in the project's time zone, with its offset


def write_xlsx(
    report: ReconcileReport, path: Path, facts: RunFacts | None = None, *, row_limit: int = EXCEL_MAX_ROWS
) -> Path:
    """The whole report: a summary sheet (run facts, verdict, one row per entity), control
    totals, traceability, then every listed difference of each entity, on as many sheets as
    Excel's row limit needs (`row_limit`, smaller in tests)."""
    wb = Workbook(write_only=True)
    write_table(
        wb,
        "Summary",
        SUMMARY_HEADER,
        [_summary_row(e) for e in report.entities],
        before=_facts(report, facts),
    )
    write_table(
        wb,
        "Control totals",
        ("entity", "total", "group", "source", "target", "difference", "status"),
        (row for e in report.entities for row in _total_rows(e)),
        row_limit=row_limit,
    )
    write_table(
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
        (row for t in report.traceability for row in _trace_rows(t.to_dict())),
        row_limit=row_limit,
    )
    for e in report.entities:
        key = list(e.rows.key)
        header = ("difference", *key, "column", "expected", "actual", "delta")
        rows = (_difference_row(d.to_dict(), key) for d in e.rows.details)
        write_table(wb, e.entity, header, rows, row_limit=row_limit)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _facts(report: ReconcileReport, facts: RunFacts | None) -> list[tuple[str, Any]]:
    verdict = "OK: no differences past tolerance" if report.ok else "DIFFERENCES past tolerance"
    lines = [("reconcile report", ""), ("verdict", verdict), ("target", report.target)]
    if facts is not None:
        lines += [
            ("time", facts.generated_at),
            ("operator", facts.operator),
            ("project fingerprint", facts.project_fingerprint),
        ]
    else:
        lines.append(("time", report.generated_at.isoformat()))
    lines += [("note", note) for note in report.notes]
    return [*lines, ("", "")]


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
        _listed(e),
    ]


def _listed(e: EntityReport) -> str:
    """How many differences the entity's sheet lists; never a silent cut."""
    listed = len(e.rows.details)
    if listed >= e.rows.max_details and e.rows.differences:
        return f"{listed:,} (listing stopped at max_details {e.rows.max_details:,}; all are counted)"
    return f"{listed:,}"


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
