"""`rehearsal compare A B`: what got better or worse between two rehearsals, and what changed.

Per entity and reason, rejects up / down / new / gone; per entity, reconcile variances
opened / closed; per phase and step, the duration and its change; and the inputs that
differ by fingerprint: sources, mapping files, value maps and other project files. The
xlsx form is for the project lead's spreadsheet (formula-safe cells, docs/guarantees.md#safe-reports).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from migrate.errors import ConfigError
from migrate.project import Project
from migrate.rehearsal.record import STEPS, Rehearsal, list_rehearsals, read


def _change(before: float, after: float) -> str:
    if before == after:
        return "same"
    if not before:
        return "new"
    if not after:
        return "gone"
    return "up" if after > before else "down"


@dataclass(frozen=True)
class RejectChange:
    entity: str
    reason: str
    before: int
    after: int

    @property
    def change(self) -> str:  # same / new / gone / up / down
        return _change(self.before, self.after)


@dataclass(frozen=True)
class VarianceChange:
    entity: str
    before: int | None  # differences past tolerance; None: not reconciled in that rehearsal
    after: int | None

    @property
    def change(self) -> str:  # same / opened / closed / up / down
        return {"new": "opened", "gone": "closed"}.get(c := _change(self.before or 0, self.after or 0), c)


@dataclass(frozen=True)
class DurationChange:
    phase: str
    step: str
    before: float | None  # seconds; None: the step did not run in that rehearsal
    after: float | None

    @property
    def delta(self) -> float | None:
        return None if self.before is None or self.after is None else round(self.after - self.before, 3)


@dataclass(frozen=True)
class InputChange:
    kind: str  # source / mapping / value map / plan / reconcile rule / rollback plan / project
    name: str  # source name or file path
    before: str | None  # fingerprint; None: absent
    after: str | None

    @property
    def change(self) -> str:
        return "added" if self.before is None else "removed" if self.after is None else "changed"


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    rejects: tuple[RejectChange, ...]
    variances: tuple[VarianceChange, ...]
    durations: tuple[DurationChange, ...]
    inputs: tuple[InputChange, ...]  # only what changed
    seconds: tuple[float, float]

    @property
    def rejects_changed(self) -> tuple[RejectChange, ...]:
        return tuple(r for r in self.rejects if r.change != "same")

    @property
    def variances_changed(self) -> tuple[VarianceChange, ...]:
        return tuple(v for v in self.variances if v.change != "same")

    def to_dict(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "seconds": {"a": self.seconds[0], "b": self.seconds[1]},
            "rejects": [asdict(r) | {"change": r.change} for r in self.rejects],
            "rejects_changed": len(self.rejects_changed),
            "variances": [asdict(v) | {"change": v.change} for v in self.variances],
            "variances_changed": len(self.variances_changed),
            "durations": [asdict(d) | {"delta": d.delta} for d in self.durations],
            "inputs": [asdict(i) | {"change": i.change} for i in self.inputs],
        }


def compare(a: Rehearsal, b: Rehearsal) -> Comparison:
    return Comparison(
        a.name,
        b.name,
        _rejects(a, b),
        _variances(a, b),
        _durations(a, b),
        _inputs(a, b),
        (a.seconds, b.seconds),
    )


def compare_named(project: Project, a: str | None = None, b: str | None = None) -> Comparison:
    """Compare two recorded rehearsals by name; without names, the last two."""
    if a is None or b is None:
        known = list_rehearsals(project)
        if a is not None or len(known) < 2:
            raise ConfigError(
                f"compare needs two rehearsals; {len(known)} recorded.",
                hint="Run `migrate rehearsal run NAME` again, or name both: `migrate rehearsal compare A B`.",
            )
        return compare(known[-2], known[-1])
    return compare(read(project, a), read(project, b))


def _rejects(a: Rehearsal, b: Rehearsal) -> tuple[RejectChange, ...]:
    before = {(e.entity, r): n for e in a.entities for r, n in e.rejected_by_reason.items()}
    after = {(e.entity, r): n for e in b.entities for r, n in e.rejected_by_reason.items()}
    order = [e.entity for e in (*a.entities, *b.entities)]
    keys = sorted(before.keys() | after.keys(), key=lambda k: (order.index(k[0]), k[1]))
    return tuple(RejectChange(e, r, before.get((e, r), 0), after.get((e, r), 0)) for e, r in keys)


def _variances(a: Rehearsal, b: Rehearsal) -> tuple[VarianceChange, ...]:
    before = {v.entity: v.differences for v in a.variances}
    after = {v.entity: v.differences for v in b.variances}
    names = list(dict.fromkeys([*before, *after]))
    return tuple(VarianceChange(n, before.get(n), after.get(n)) for n in names)


def _durations(a: Rehearsal, b: Rehearsal) -> tuple[DurationChange, ...]:
    before = {(s.phase, s.step): s.seconds for s in a.steps}
    after = {(s.phase, s.step): s.seconds for s in b.steps}
    phases = list(dict.fromkeys([*a.phases, *b.phases]))
    return tuple(
        DurationChange(p, step, before.get((p, step)), after.get((p, step)))
        for p in phases
        for step in STEPS
        if (p, step) in before or (p, step) in after
    )


def input_kind(path: str) -> str:
    """What a project file is, for the reader of a comparison."""
    if path.startswith("mappings/values/"):
        return "value map"
    for prefix, kind in (
        ("mappings/", "mapping"),
        ("phases/", "plan"),
        ("reconcile/", "reconcile rule"),
        ("rollback/", "rollback plan"),
    ):
        if path.startswith(prefix):
            return kind
    return "project"


def _inputs(a: Rehearsal, b: Rehearsal) -> tuple[InputChange, ...]:
    out = []
    src_a = {s.source: s.fingerprint for s in a.sources}
    src_b = {s.source: s.fingerprint for s in b.sources}
    where = {s.source: s.where for s in (*a.sources, *b.sources)}
    for name in sorted(src_a.keys() | src_b.keys()):
        if src_a.get(name) != src_b.get(name):
            shown = f"{name} ({where[name]})" if where.get(name) else name
            out.append(InputChange("source", shown, src_a.get(name), src_b.get(name)))
    for path in sorted(a.files.keys() | b.files.keys()):
        if a.files.get(path) != b.files.get(path):
            out.append(InputChange(input_kind(path), path, a.files.get(path), b.files.get(path)))
    return tuple(out)


def write_xlsx(result: Comparison, path: Path) -> Path:
    """The comparison as a workbook: rejects, variances, durations, inputs changed."""
    from openpyxl import Workbook

    from migrate.mapping.report import safe_row

    book = Workbook()
    book.remove(book.active)
    sheets = {
        "rejects": (
            ("entity", "reason", result.a, result.b, "change"),
            [(r.entity, r.reason, r.before, r.after, r.change) for r in result.rejects],
        ),
        "reconcile": (
            ("entity", f"variances {result.a}", f"variances {result.b}", "change"),
            [(v.entity, v.before, v.after, v.change) for v in result.variances],
        ),
        "durations": (
            ("phase", "step", f"seconds {result.a}", f"seconds {result.b}", "change (s)"),
            [(d.phase, d.step, d.before, d.after, d.delta) for d in result.durations],
        ),
        "inputs changed": (
            ("kind", "name", f"fingerprint {result.a}", f"fingerprint {result.b}", "change"),
            [(i.kind, i.name, i.before, i.after, i.change) for i in result.inputs],
        ),
    }
    for title, (header, rows) in sheets.items():
        sheet = book.create_sheet(title)
        for n, values in enumerate([header, *rows], start=1):
            safe_row(sheet, n, values)
        sheet.freeze_panes = "A2"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path
