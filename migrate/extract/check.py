"""`sources check`: is each declared source there, readable, changed since its last extract,
and does it still have the columns the mappings use?"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from migrate.errors import MigrateError
from migrate.extract.fingerprint import file_fingerprint, spec_hash
from migrate.extract.guards import grace_of
from migrate.extract.layout import SheetLayout
from migrate.extract.readers import database, text
from migrate.extract.readers.workbook import Workbook
from migrate.project import Project, SourceSpec, read_yaml
from migrate.store import WorkStore, normalize_header

# states: ok (unchanged since last extract) | new (never extracted) | changed | missing | unreadable
PROBLEMS = ("missing", "unreadable")


@dataclass(frozen=True)
class SourceCheck:
    source: str
    kind: str
    where: str
    state: str
    fingerprint: str | None
    extracted_fingerprint: str | None
    columns: tuple[str, ...]  # original header texts found now
    missing_columns: tuple[str, ...]  # used by mappings, not found
    problem: str | None = None
    warnings: tuple[str, ...] = ()  # what extract would warn about the sheets it reads

    @property
    def ok(self) -> bool:
        return self.state not in PROBLEMS and not self.missing_columns

    def to_dict(self) -> dict:
        return self.__dict__ | {
            "columns": list(self.columns),
            "missing_columns": list(self.missing_columns),
            "warnings": list(self.warnings),
            "ok": self.ok,
        }


@dataclass(frozen=True)
class SourcesReport:
    sources: tuple[SourceCheck, ...]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sources)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "sources": [s.to_dict() for s in self.sources]}


def check_sources(
    project: Project,
    used_columns: dict[str, set[str]] | None = None,
    names: tuple[str, ...] | list[str] = (),
) -> SourcesReport:
    """Check each source; `used_columns` (source -> header names mappings read) adds a column check."""
    from migrate.extract import selected_sources
    from migrate.extract.staging import last_ok_run

    store = WorkStore(project.staging_url)
    try:
        checks = []
        for name in selected_sources(project, names):
            previous = last_ok_run(store, name) if store.has_table("stg_runs") else None
            checks.append(
                _check_one(project, name, project.source(name), previous, (used_columns or {}).get(name))
            )
        return SourcesReport(tuple(checks))
    finally:
        store.dispose()


def used_columns_from_mappings(project: Project) -> dict[str, set[str]]:
    """Header names each single-source mapping reads (`from:` values), read loosely from
    mappings/*.yaml, so `sources check` can say which used columns a source no longer has."""
    used: dict[str, set[str]] = {}
    folder = project.root / "mappings"
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else ():
        data = read_yaml(path, project.root)
        if not isinstance(data, dict):
            continue
        sources = data.get("sources") or ([data["source"]] if isinstance(data.get("source"), str) else [])
        if isinstance(sources, list) and len(sources) == 1 and isinstance(sources[0], str):
            _collect_from(data.get("columns"), used.setdefault(sources[0], set()))
    return used


def _collect_from(data, out: set[str]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "from" and isinstance(value, str):
                out.add(value)
            elif key == "from" and isinstance(value, list):
                out.update(v for v in value if isinstance(v, str))
            else:
                _collect_from(value, out)
    elif isinstance(data, list):
        for item in data:
            _collect_from(item, out)


def _check_one(
    project: Project, name: str, spec: SourceSpec, previous: dict | None, used: set[str] | None
) -> SourceCheck:
    where = (
        spec.path if spec.kind != "sql" else database.mask_url(database.source_url(spec, name, project.root))
    )
    extracted = previous["fingerprint"] if previous else None
    try:
        fingerprint, columns, warnings = _probe(project, name, spec)
    except MigrateError as exc:
        state = "missing" if "does not exist" in exc.problem else "unreadable"
        return SourceCheck(name, spec.kind, where, state, None, extracted, (), (), exc.message)
    if previous is None:
        state = "new"
    elif previous["fingerprint"] != fingerprint or previous["spec_hash"] != spec_hash(spec):
        state = "changed"
    else:
        state = "ok"
    found = {normalize_header(c) for c in columns}
    missing = tuple(sorted(c for c in (used or ()) if normalize_header(c) not in found))
    return SourceCheck(
        name, spec.kind, where, state, fingerprint, extracted, tuple(columns), missing, None, warnings
    )


def _probe(project: Project, name: str, spec: SourceSpec) -> tuple[str, list[str], tuple[str, ...]]:
    """The source's fingerprint now, its header texts (union over the declared sheets) and the
    warnings extract gives about the sheets it chooses (stacked, hidden, without cells)."""
    if spec.kind == "sql":
        url = database.source_url(spec, name, project.root)
        rows = database.read_rows(spec, name, url, 1)
        header, _, _ = next(rows)
        rows.close()
        return database.fingerprint_rows(spec, name, url), header, ()
    from migrate.extract.stage import _file, _RunState, _sheets

    path, shown = _file(project, name, spec)
    fingerprint = file_fingerprint(path)
    if spec.kind == "csv":
        header, _chunks, _, _ = text.read_text(path, shown, spec, 1000, Counter())
        return fingerprint, header, ()
    book = Workbook(path, shown, spec.kind, password=spec.password, grace=grace_of(spec.inflate_limit_mb))
    state = _RunState()
    try:
        columns: list[str] = []
        for sheet_name in _sheets(book, spec, shown, state):
            for column in SheetLayout(book.read(sheet_name), spec, Counter()).header:
                if normalize_header(column) not in {normalize_header(c) for c in columns}:
                    columns.append(column)
        return fingerprint, columns, tuple(state.warnings)
    finally:
        book.close()
