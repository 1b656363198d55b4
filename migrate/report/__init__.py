"""`migrate report`: the project lead's board as one self-contained HTML file.

The page is drawn from the very dict `migrate phase status --json` prints (`status.collect`),
through a Jinja2 template with autoescaping on (legacy values and names are text, never
markup), with charts as inline SVG (`charts`). No script, no stylesheet, font or image from
anywhere else: it works opened from disk or a file share.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from migrate.project import Project
from migrate.report import charts
from migrate.status import STATES, BoardStatus, collect

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class ReportResult:
    path: Path
    status: BoardStatus

    def to_dict(self) -> dict:
        return {"ok": True, "path": str(self.path), "status": self.status.to_dict()}


def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,  # a misspelt key fails the render, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = duration
    return env


def duration(seconds: float | None) -> str:
    """1 h 05 min, 3 min 20 s, 12.5 s: durations as a lead reads them."""
    if seconds is None:
        return "–"
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.1f} s"


def render(status: dict) -> str:
    """The page for a status dict (as `phase status --json` prints it)."""
    svg = {
        "rejects": charts.rejects_by_reason(status["rejects"]),
        "trend": charts.reject_trend(status["rehearsals"], status["rejects"]),
        "steps": charts.step_durations(status["eta"]),
    }
    page = _environment().get_template("board.html.j2")
    return page.render(s=status, states=STATES, charts={k: Markup(v) if v else None for k, v in svg.items()})


def write_report(project: Project, out: Path, *, reconcile: bool = True, reconciled=None) -> ReportResult:
    """Collect the status and write the page atomically to `out` (`reconciled`: see `status.collect`)."""
    status = collect(project, reconcile=reconcile, reconciled=reconciled)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = out.with_name(out.name + ".tmp")
    scratch.write_text(render(status.to_dict()), encoding="utf-8")
    os.replace(scratch, out)
    return ReportResult(out.resolve(), status)
