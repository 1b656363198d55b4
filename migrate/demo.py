"""`migrate demo`: the reference project end to end on SQLite, in a folder of its own.

The reference project's files (project.yaml, phases, mappings, reconcile rules, rollback
plans) are copied from the source checkout, the legacy factory is generated afresh at the
requested size, and every phase runs in order (extract, map, load, approve). Nothing outside the folder is touched.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import migrate
from migrate import db, factory
from migrate import phase as phases
from migrate.db import make_engine
from migrate.errors import ConfigError
from migrate.extract import ExtractResult, SourceResult
from migrate.mapping import MapResult
from migrate.phase import ApproveResult, PhaseRunResult
from migrate.progress import NO_PROGRESS, Progress
from migrate.project import Project
from migrate.reconcile import ReconcileReport, reconcile

REFERENCE_FILES = ("project.yaml", "phases", "mappings", "reconcile", "rollback")


def reference_project() -> Path:
    """The reference project: the root of the source checkout this package runs from."""
    root = Path(migrate.__file__).resolve().parent.parent
    if not (root / "project.yaml").is_file() or not (root / "mappings").is_dir():
        raise ConfigError(
            "the demo needs the reference project, which ships with the source checkout, not the wheel.",
            hint="Clone the repository and run `make demo` there.",
        )
    return root


DEMO_MARK = ".migrate-demo"


def refuse_foreign_folder(directory: Path) -> None:
    """A demo replaces its folder's contents: only an empty folder or an earlier demo's
    (its mark, or from before the mark: project.yaml and fixtures/manifest.json) is taken."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise ConfigError(f"{directory} is a file, not a folder.", hint="Give --dir a new or empty folder.")
    earlier = (directory / DEMO_MARK).is_file() or (
        (directory / "project.yaml").is_file() and (directory / "fixtures" / "manifest.json").is_file()
    )
    if not earlier and any(directory.iterdir()):
        raise ConfigError(
            f"{directory} is not empty and is not an earlier demo; the demo would replace its files.",
            hint="Give --dir a new or empty folder.",
        )


def prepare(directory: Path, *, rows: int | None = None, seed: int = 7) -> dict:
    """Copy the reference project into `directory` and generate its legacy sources; returns the manifest."""
    directory = Path(directory).resolve()
    source = reference_project()
    if directory == source:
        raise ConfigError("the demo folder must not be the reference project itself.", hint="Use --dir.")
    refuse_foreign_folder(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / DEMO_MARK).write_text("made by `migrate demo`; a later demo may replace this folder.\n")
    for name in REFERENCE_FILES:
        src, dest = source / name, directory / name
        if dest.is_dir():
            shutil.rmtree(dest)
        if src.is_dir():
            shutil.copytree(src, dest)
        elif src.is_file():
            shutil.copy2(src, dest)
    # A fresh run each time: old work store, target and sources go.
    for stale in (directory / ".migrate", directory / "fixtures"):
        shutil.rmtree(stale, ignore_errors=True)
    return factory.generate(directory / "fixtures", seed=seed, scale=rows if rows else "default")


@dataclass(frozen=True)
class DemoResult:
    directory: Path
    manifest: dict
    runs: tuple[PhaseRunResult, ...]  # one extract + map + load per phase, in plan order
    approvals: tuple[ApproveResult, ...]  # each phase's gates and cutover point
    reconciled: ReconcileReport
    evidence: Any = None  # migrate.demo_signing.DemoEvidence: the signed last phase's pack, verified
    board: Path | None = None  # the HTML status page (`migrate report`)

    @property
    def ok(self) -> bool:
        return self.reconciled.ok and (self.evidence is None or self.evidence.check.ok)

    @property
    def extracted(self) -> ExtractResult:
        """Every source once: a later phase finds a shared source unchanged."""
        first: dict[str, SourceResult] = {}
        for run in self.runs:
            for source in run.extracted.sources:
                first.setdefault(source.source, source)
        return ExtractResult(tuple(first.values()))

    @property
    def mapped(self) -> MapResult:
        return MapResult(False, tuple(e for run in self.runs for e in run.mapped.entities))

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "directory": str(self.directory),
            "legacy": {
                "sources": len(self.manifest["sources"]),
                "rows": sum(s["rows"] for s in self.manifest["sources"].values()),
                "defects": len(self.manifest["defects"]),
            },
            "extract": self.extracted.to_dict(),
            "map": self.mapped.to_dict(),
            "phases": [
                {"phase": run.phase, "load": run.loaded.to_dict(), "approve": approval.to_dict()}
                for run, approval in zip(self.runs, self.approvals, strict=True)
            ],
            "reconcile": self.reconciled.to_dict(),
            "evidence": self.evidence.to_dict() if self.evidence else None,
            "board": str(self.board) if self.board else None,
        }


def run_demo(
    directory: Path,
    *,
    rows: int | None = None,
    seed: int = 7,
    operator: str = "demo",
    progress: Progress = NO_PROGRESS,
) -> DemoResult:
    """The reference project on SQLite in `directory`, phase by phase as a cutover runs: each
    phase extracted, mapped, loaded and approved (its gates checked, its cutover point recorded),
    then the whole target reconciled."""
    from migrate import demo_signing

    manifest = prepare(directory, rows=rows, seed=seed)
    signed_phase = demo_signing.set_up(Path(directory).resolve())
    project = Project(directory)
    engine = make_engine(project.target_url)
    try:
        db.upgrade(engine)
    finally:
        engine.dispose()
    runs, approvals = [], []
    for phase in project.plan.phases:
        steps = {"operator": operator, "command": "migrate demo", "progress": progress}
        runs.append(phases.run(project, phase.name, **steps))
        if phase.name == signed_phase:
            demo_signing.sign_phase(project, phase.name)
        approvals.append(phases.approve(project, phase.name, **steps))
    reconciled = reconcile(project, progress=progress)
    evidence = demo_signing.evidence(project, signed_phase, operator)
    board = write_board(project, reconciled)
    return DemoResult(project.root, manifest, tuple(runs), tuple(approvals), reconciled, evidence, board)


def write_board(project: Project, reconciled: ReconcileReport) -> Path:
    """The lead's board of the finished demo, `status.html` in the demo folder."""
    from migrate.report import write_report

    return write_report(project, project.root / "status.html", reconciled=reconciled).path
