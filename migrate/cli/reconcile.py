"""`migrate reconcile`: compare what was loaded with what the sources held; exit 1 past tolerance."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from migrate import reconcile as engine
from migrate.cli.context import (
    NO_MAPPINGS,
    AppContext,
    app_context,
    audited,
    emit_json,
    progress_for,
    reported_errors,
    require_target,
)
from migrate.cli.output import more, number, table
from migrate.errors import EXIT_FAILED, ConfigError
from migrate.reconcile.spec import DEFAULT_CHUNK

if TYPE_CHECKING:
    from migrate.reconcile.report import RunFacts


class Method(StrEnum):
    auto = "auto"
    rows = "rows"
    pushdown = "pushdown"


class Format(StrEnum):
    table = "table"
    json = "json"
    xlsx = "xlsx"


def reconcile(
    ctx: typer.Context,
    entities: list[str] = typer.Argument(
        None, help="Entities to reconcile (default: every entity with a mapping file or mapped rows)."
    ),
    phase: str | None = typer.Option(None, "--phase", help="Reconcile the entities of this phase."),
    all_: bool = typer.Option(
        False, "--all", help="Every entity with a mapping file or mapped rows (the default)."
    ),
    format_: Format = typer.Option(
        Format.table, "--format", help="table (terminal), json, or xlsx (needs --out)."
    ),
    out: Path | None = typer.Option(None, "--out", help="File to write the json or xlsx report to."),
    method: Method = typer.Option(
        Method.auto,
        "--method",
        help="pushdown: bisect key ranges on checksums computed by the databases, read only "
        "small ranges that differ; rows: read every row (auto: pushdown when a side is a server).",
    ),
    chunk_size: int = typer.Option(
        DEFAULT_CHUNK, "--chunk-size", min=1, help="Rows per batch read from a database."
    ),
) -> None:
    """Reconcile loaded entities: row accounting, control totals, row differences, traceability."""
    app = app_context(ctx)
    with reported_errors(ctx):
        if all_ and (entities or phase):
            raise ConfigError("give --all, entity names or --phase, not several.")
        if format_ is Format.xlsx and out is None:
            raise ConfigError("--format xlsx writes a workbook: give --out FILE.xlsx.")
        require_target(app)
        with progress_for(ctx) as progress:
            report = engine.reconcile(
                app.project,
                entities or (),
                phase=phase,
                chunk_size=chunk_size,
                method=method.value,
                progress=progress,
                max_details=XLSX_MAX_DETAILS if format_ is Format.xlsx else None,
            )
        audited(app, "reconcile", _audit_details(report, phase))
        if format_ is Format.xlsx:
            from migrate.reconcile.report import write_xlsx  # openpyxl: only for an xlsx report

            write_xlsx(report, out, _facts(app, report))
        elif format_ is Format.json and out is not None:
            import json

            from migrate.cli.context import _jsonable

            out.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=_jsonable))
    if app.json or (format_ is Format.json and out is None):
        emit_json(app, report.to_dict())
    else:
        render(report, app)
        if out is not None:
            app.result(f"report written to {out}")
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


XLSX_MAX_DETAILS = 5_000_000  # a workbook lists every difference up to this (all are counted)


def _facts(app: AppContext, report: engine.ReconcileReport) -> RunFacts:
    from migrate.load import project_fingerprint
    from migrate.reconcile.report import RunFacts

    return RunFacts(app.operator, project_fingerprint(app.project.root), app.when(report.generated_at))


def _audit_details(report: engine.ReconcileReport, phase: str | None) -> dict:
    """QA's reconcile runs are recorded too: what was compared and what it found."""
    summary = report.to_dict()["summary"]
    entities = {e.entity: {"ok": e.ok, "differences": e.rows.differences} for e in report.entities}
    failing = summary["entities_failing"] + summary["traceability_failing"]
    return {"phase": phase, "ok": report.ok, "entities": entities, "failing": failing}


def render(report: engine.ReconcileReport, app: AppContext) -> None:
    """The terminal summary: one line per entity, the first differences, the traceability checks."""
    if not report.entities:
        app.result(NO_MAPPINGS)
        return
    counts = ("expected", "in target", "missing", "only in target", "dup keys", "unequal rows")
    grid = table(
        "entity",
        *counts,
        "accounting",
        "totals",
        "status",
        title="reconcile",
        numeric=counts,
        secondary=("dup keys", "accounting", "totals"),
    )
    for e in report.entities:
        r, a = e.rows, e.accounting
        bad_totals = sum(len(t.past_tolerance()) + (t.unparsed_rows > 0) for t in e.totals)
        grid.add_row(
            e.entity,
            *(
                number(n)
                for n in (
                    r.expected_rows,
                    a.in_target,
                    r.missing,
                    r.only_in_target,
                    r.duplicate_keys_expected + r.duplicate_keys_actual,
                    r.unequal_rows,
                )
            ),
            ("adds up" if a.adds_up else Text("does not add up", style="red"))
            if a.recorded
            else "no map run",
            f"{len(e.totals) - sum(not t.ok for t in e.totals)}/{len(e.totals)} ok" if e.totals else "-",
            Text("OK", style="green")
            if e.ok
            else Text(f"{number(r.differences + bad_totals)} differences", style="red"),
        )
    if not app.json:
        app.show(grid)
        _differences(app, report)
        app.console.print(
            "[green]reconciled: no differences past tolerance[/]"
            if report.ok
            else "[red]differences past tolerance: see above[/]"
        )


DIFFERENCES_SHOWN = 10


def _differences(app: AppContext, report: engine.ReconcileReport) -> None:
    """The first differences of each entity, then how many more; the traceability checks."""
    for e in report.entities:
        for d in e.rows.details[:DIFFERENCES_SHOWN]:
            app.console.print(_difference_line(e.entity, d.to_dict()), markup=False, highlight=False)
        cut = more(min(DIFFERENCES_SHOWN, len(e.rows.details)), max(e.rows.differences, len(e.rows.details)))
        if cut:
            app.console.print(f"  {cut} differences of {e.entity} (--format xlsx --out FILE lists them all)")
    for t in report.traceability:
        state = t.state
        app.console.print(
            f"traceability {t.name}: {state} (broken links: {number(len(t.expected_breaks))} in the "
            f"sources, {number(len(t.target_breaks))} in the target)",
            markup=False,
        )


def _difference_line(entity: str, d: dict) -> str:
    key = ", ".join(f"{k}={v!r}" for k, v in d["key"].items())
    if d["kind"] == "value":
        expected, actual = (_shown(d[side]) for side in ("expected", "actual"))
        return f"  {entity} [{key}] {d['column']}: expected {expected}, target {actual}"
    if d["kind"] == "duplicate":
        return f"  {entity} [{key}] duplicate key: {d['count']} rows on the {d['side']} side"
    return f"  {entity} [{key}] " + ("missing in target" if d["kind"] == "missing" else "only in target")


def _shown(value) -> str:
    return "NULL" if value is None else repr(value)
