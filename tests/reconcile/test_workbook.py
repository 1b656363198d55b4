"""The reconcile workbook is complete: every difference listed (no 1,000-row cap), split across
sheets past the row limit, a summary sheet naming target, time, operator, fingerprint, verdict."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.db import make_engine
from migrate.project import Project
from migrate.reconcile import reconcile
from migrate.reconcile.report import RunFacts, write_xlsx
from tests.reconcile.builders import fresh_target, write_mapped
from tests.reconcile.test_cli import project, urls

DIFFERENCES = 5_000


def five_thousand_missing(tmp_path: Path) -> Path:
    """5,000 mapped suppliers, none in the target: 5,000 differences (missing in target)."""
    root = project(tmp_path)
    store_url, target_url = urls(root)
    store = make_engine(store_url)
    rows = [
        {"supplier_code": f"S{i:05d}", "name": f"supplier {i}", "qualification_status": "approved"}
        for i in range(DIFFERENCES)
    ]
    write_mapped(store, "supplier", rows)
    store.dispose()
    fresh_target(target_url).dispose()
    return root


def listed(book, prefix: str) -> list[tuple]:
    return [
        row
        for name in book.sheetnames
        if name == prefix or name.startswith(prefix + " (")
        for row in list(book[name].iter_rows(values_only=True))[1:]
    ]


def test_the_workbook_of_5000_differences_holds_all_5000(tmp_path):
    root = five_thousand_missing(tmp_path)
    out = tmp_path / "reconcile.xlsx"
    result = CliRunner().invoke(
        app,
        [
            "--project",
            str(root),
            "--operator",
            "qa-lin",
            "reconcile",
            "supplier",
            "--format",
            "xlsx",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 1, result.output
    book = openpyxl.load_workbook(out)
    assert book.sheetnames[0] == "Summary"
    rows = listed(book, "supplier")
    assert len(rows) == DIFFERENCES and len({r[1] for r in rows}) == DIFFERENCES
    assert {r[0] for r in rows} == {"missing in target"}
    facts = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True) if r[0]}
    assert facts["verdict"] == "DIFFERENCES past tolerance" and facts["operator"] == "qa-lin"
    assert facts["target"].startswith("sqlite:///") and len(facts["project fingerprint"]) == 64
    assert facts["time"].endswith("+08:00")  # the project's time zone (Asia/Shanghai), with the offset
    sheet = book["supplier"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:F{DIFFERENCES + 1}"
    assert sheet["A1"].font.b and sheet.column_dimensions["B"].width >= len("S00000")


def test_past_the_row_limit_the_list_goes_on_in_the_next_sheet(tmp_path):
    root = five_thousand_missing(tmp_path)
    report = reconcile(Project(root), ["supplier"], max_details=DIFFERENCES)
    out = write_xlsx(report, tmp_path / "split.xlsx", RunFacts("qa", "f" * 64, "now"), row_limit=1_001)
    book = openpyxl.load_workbook(out)
    parts = [n for n in book.sheetnames if n.startswith("supplier")]
    assert parts == ["supplier", *(f"supplier ({i})" for i in range(2, 6))]
    assert [book[n].max_row for n in parts] == [1_001] * 5
    rows = listed(book, "supplier")
    assert len(rows) == DIFFERENCES and len({r[1] for r in rows}) == DIFFERENCES
