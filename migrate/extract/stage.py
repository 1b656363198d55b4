"""Extract's stage: each declared source read into its `stg_<source>` table, with lineage,
fingerprints and located errors (the package's public API is re-exported by __init__)."""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from migrate.db import make_engine
from migrate.errors import ConfigError, SourceError
from migrate.extract.claim import SourceClaim
from migrate.extract.fingerprint import file_fingerprint, spec_hash
from migrate.extract.guards import grace_of
from migrate.extract.layout import SheetLayout, header_notes
from migrate.extract.readers import column_letter, database, text
from migrate.extract.readers.segments import Unsegmentable
from migrate.extract.readers.workbook import Workbook
from migrate.extract.staging import (
    StagingWriter,
    columns_table,
    ensure_catalog,
    last_ok_run,
    runs_table,
)
from migrate.progress import NO_PROGRESS, Progress
from migrate.project import Project, SourceSpec, read_yaml
from migrate.store import WorkStore, staged_table

MAX_WARNINGS = 20
SQLITE_BUSY_SECONDS = 60.0
CATALOGUE_TABLES = (runs_table.name, columns_table.name)  # a source named `runs` would overwrite them
# A database table this big is staged by the ADBC ingest process (on an SQLite store): fewer
# rows do not pay for starting it.
BULK_ROWS = 100_000


@dataclass(frozen=True)
class SourceResult:
    source: str
    kind: str
    status: str  # extracted | unchanged
    rows: int
    sheets: dict[str, int]
    skipped: dict[str, int]
    hidden_sheets: tuple[str, ...]
    warnings: tuple[str, ...]
    fingerprint: str
    previous_fingerprint: str | None
    run_id: int | None
    reader: str
    seconds: float

    def to_dict(self) -> dict:
        return self.__dict__ | {"hidden_sheets": list(self.hidden_sheets), "warnings": list(self.warnings)}


@dataclass(frozen=True)
class ExtractResult:
    sources: tuple[SourceResult, ...]

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.sources)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "sources": [s.to_dict() for s in self.sources]}


def selected_sources(
    project: Project, names: tuple[str, ...] | list[str] = (), phase: str | None = None
) -> list[str]:
    if names and phase:
        raise ConfigError("give source names or --phase, not both.")
    if phase:
        return sources_for_phase(project, phase)
    if names:
        return [name for name in names if project.source(name)]
    return list(project.spec.sources)


def sources_for_phase(project: Project, phase: str) -> list[str]:
    """Sources named by the mappings of a phase's entities (`source:` / `sources:` keys)."""
    wanted: set[str] = set()
    for entity in project.plan.phase(phase).entities:
        path = project.root / "mappings" / f"{entity}.yaml"
        if path.exists():
            _collect_sources(read_yaml(path, project.root), wanted)
    declared = list(project.spec.sources)
    unknown = wanted - set(declared)
    if unknown:
        raise ConfigError(f"phase {phase}: mappings name undeclared sources: {', '.join(sorted(unknown))}.")
    if not wanted:
        raise ConfigError(f"phase {phase}: no mapping of its entities names a source.", file="mappings/")
    return [name for name in declared if name in wanted]


def _collect_sources(data, out: set[str]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "source" and isinstance(value, str):
                out.add(value)
            elif key == "sources" and isinstance(value, list):
                out.update(v for v in value if isinstance(v, str))
            elif key == "sources" and isinstance(value, dict):
                out.update(value)
            _collect_sources(value, out)
    elif isinstance(data, list):
        for item in data:
            _collect_sources(item, out)


def extract(
    project: Project,
    names: tuple[str, ...] | list[str] = (),
    *,
    phase: str | None = None,
    force: bool = False,
    progress: Progress = NO_PROGRESS,
    store: WorkStore | None = None,
) -> ExtractResult:
    """Stage each selected source; an unchanged source (same fingerprint and declaration) is skipped."""
    chosen = selected_sources(project, names, phase)
    own_store = store is None
    store = store or _work_store(project.staging_url)
    try:
        ensure_catalog(store)
        return ExtractResult(
            tuple(_extract_claimed(project, store, name, force, progress) for name in chosen)
        )
    finally:
        if own_store:
            store.dispose()


def _work_store(url) -> WorkStore:
    """An SQLite store shared by concurrent extracts waits for the other's write (a chunk, a
    swap) instead of failing after pysqlite's 5 s default."""
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        engine.dispose()
        engine = make_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})
    return WorkStore(engine)


def _extract_claimed(
    project: Project, store: WorkStore, name: str, force: bool, progress: Progress
) -> SourceResult:
    """One extract per source at a time: a concurrent one of the same source is refused."""
    project.source(name)  # an undeclared name is a configuration error, not a claim
    if staged_table(name) in CATALOGUE_TABLES:
        raise ConfigError(
            f"source name {name!r} is reserved: its staging table {staged_table(name)} is extract's own catalogue.",
            file="project.yaml",
            key=f"sources.{name}",
            hint="Rename the source (e.g. to a name saying what it holds).",
        )
    with SourceClaim(store, name) as claim:
        return _extract_one(project, store, name, force, progress, claim)


def _extract_one(
    project: Project, store: WorkStore, name: str, force: bool, progress: Progress, claim: SourceClaim
) -> SourceResult:
    spec = project.source(name)
    started = time.perf_counter()
    previous = last_ok_run(store, name)
    declared = spec_hash(spec)
    chunk = spec.chunk_size or project.spec.defaults.chunk_size
    if spec.kind == "sql":
        return _extract_sql(
            project, store, name, spec, previous, declared, chunk, force, progress, started, claim
        )
    path, shown = _file(project, name, spec)
    fp = file_fingerprint(path)
    if not force and previous and previous["fingerprint"] == fp and previous["spec_hash"] == declared:
        if store.has_table(staged_table(name)):
            return _unchanged(name, spec, previous, started)
    writer = StagingWriter(store, name, spec.kind, shown, fp, declared)
    state = _RunState(claim=claim)
    try:
        if spec.kind == "csv":
            _stage_text(path, shown, spec, chunk, writer, state, progress, name)
        else:
            _stage_workbook(path, shown, spec, chunk, writer, state, progress, name)
        writer.finish(state.rows, state.sheets, dict(state.skipped), state.warnings, state.reader)
    except BaseException:
        writer.abandon()
        raise
    return state.result(name, spec, "extracted", fp, previous, writer.run_id, started)


@dataclass
class _RunState:
    rows: int = 0
    sheets: dict[str, int] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    hidden_sheets: list[str] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)  # in the order first used (sheets may differ)
    claim: SourceClaim | None = None

    def read_by(self, reader: str) -> None:
        if reader not in self.readers:
            self.readers.append(reader)

    @property
    def reader(self) -> str:
        return ", ".join(self.readers)

    def staged(self, rows: int) -> None:
        """Count a written chunk and keep the source's claim alive."""
        self.rows += rows
        if self.claim is not None:
            self.claim.renew()

    def warn(self, text_: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(text_)

    def result(self, name, spec, status, fp, previous, run_id, started) -> SourceResult:
        return SourceResult(
            source=name,
            kind=spec.kind,
            status=status,
            rows=self.rows,
            sheets=dict(self.sheets),
            skipped={k: v for k, v in self.skipped.items() if v},
            hidden_sheets=tuple(self.hidden_sheets),
            warnings=tuple(self.warnings),
            fingerprint=fp,
            previous_fingerprint=previous["fingerprint"] if previous else None,
            run_id=run_id,
            reader=self.reader,
            seconds=round(time.perf_counter() - started, 3),
        )


def _unchanged(name: str, spec: SourceSpec, previous: dict, started: float) -> SourceResult:
    import json

    return SourceResult(
        source=name,
        kind=spec.kind,
        status="unchanged",
        rows=int(previous["rows"] or 0),
        sheets=json.loads(previous["sheets"] or "{}"),
        skipped=json.loads(previous["skipped"] or "{}"),
        hidden_sheets=(),
        warnings=(),
        fingerprint=previous["fingerprint"],
        previous_fingerprint=previous["fingerprint"],
        run_id=previous["run_id"],
        reader=previous.get("reader") or "",  # the reader of the rows still staged
        seconds=round(time.perf_counter() - started, 3),
    )


def _file(project: Project, name: str, spec: SourceSpec) -> tuple[Path, str]:
    path = project.path(spec.path or "")
    shown = spec.path or ""
    if not path.is_file():
        raise SourceError(
            f"{shown} does not exist (source {name}).",
            hint=f"Check sources.{name}.path in project.yaml.",
        )
    return path, shown


def _stage_text(path, shown, spec, chunk, writer, state, progress, name) -> None:
    header, chunks, encoding, delimiter = text.read_text(path, shown, spec, chunk, state.skipped)
    state.read_by(f"csv ({encoding}, {delimiter!r})")
    if not header:
        raise SourceError(f"{shown}: no header record.", hint="The file is empty or has only blank lines.")
    names = writer.staged_names(header)
    task = progress.task(f"{name}", total=None)
    for rows in chunks:
        writer.write(None, names, rows)
        state.staged(len(rows))
        task.advance(len(rows))
    state.sheets[""] = state.rows


def _stage_workbook(path, shown, spec, chunk, writer, state, progress, name) -> None:
    book = Workbook(
        path,
        shown,
        spec.kind,
        choose=lambda sheets: _choose_sheets(sheets, spec, shown)[0],
        password=spec.password,
        grace=grace_of(spec.inflate_limit_mb),
    )
    if book.date1904:
        state.warn(
            f"{shown}: the workbook counts dates from 1904 (Mac Excel's date system): date cells are "
            "staged as dates, but a bare serial number in it counts days from 1904-01-01, not 1900."
        )
    for note in book.notes:
        state.warn(note)
    try:
        for sheet_name in _sheets(book, spec, shown, state):
            if _stage_segments(book, sheet_name, shown, spec, writer, state, progress, name):
                continue
            if _stage_fast(book, sheet_name, shown, spec, chunk, writer, state, progress, name):
                continue
            sheet = book.read(sheet_name)
            state.read_by(sheet.reader)
            if sheet.extras.get("hidden_rows_unknown"):
                state.warn(
                    f"{shown}, sheet {sheet_name}: its row formatting cannot be read, so hidden rows "
                    "are not known; every row is staged."
                )
            _warn_formulas(sheet, shown, sheet_name, state)
            layout = SheetLayout(sheet, spec, state.skipped)
            if not layout.header and not layout.headerless:
                state.warn(f"{shown}, sheet {sheet_name}: empty sheet, nothing staged.")
                state.sheets[sheet_name] = 0
                continue
            _warn_header(layout.header, shown, sheet_name, state)
            task = progress.task(f"{name} [{sheet_name}]", total=None)
            before = state.rows
            for header, rows in layout.chunks(chunk):
                writer.write(sheet_name, writer.staged_names(header), rows)
                state.staged(len(rows))
                task.advance(len(rows))
            for note in layout.notes:
                state.warn(f"{shown}, sheet {sheet_name}: {note}")
            state.sheets[sheet_name] = state.rows - before
    finally:
        book.close()


def _stage_segments(book, sheet_name, shown, spec, writer, state, progress, name) -> bool:
    """A big xlsx sheet read in segments, parsed in parallel while the guard inflates it
    (readers/segments.py). False, with whatever it staged taken back, when the sheet has to be
    read whole."""
    read = book.read_segments(sheet_name, spec)
    if read is None:
        return False
    mark = writer.mark()
    writer.start_bulk()
    task = progress.task(f"{name} [{sheet_name}]", total=None)
    staged = 0
    try:
        for rows in read:
            if not staged:
                _warn_header(rows.header, shown, sheet_name, state)
            names = writer.staged_names(rows.header)
            writer.write_bulk(sheet_name, names, rows.numbers, rows.columns)
            staged += len(rows)
            state.staged(len(rows))
            task.update(total=read.estimated_rows(staged))  # a big sheet: rows/s and an ETA
            task.advance(len(rows))
    except Unsegmentable:
        writer.undo(mark)
        state.rows -= staged
        return False
    task.update(total=staged)
    state.read_by("fastexcel-segments")
    state.skipped.update(read.skipped)
    _warn_formulas(book.scans[sheet_name], shown, sheet_name, state)
    state.sheets[sheet_name] = staged
    return True


def _warn_header(header: list[str], shown: str, sheet_name: str, state: _RunState) -> None:
    for note in header_notes(header):
        state.warn(f"{shown}, sheet {sheet_name}: {note}")


def _warn_formulas(scan, shown: str, sheet_name: str, state: _RunState) -> None:
    for row, column in scan.formulas_without_value:
        state.warn(
            f"{shown}, sheet {sheet_name}, row {row}, column {column}: formula without a cached value, staged as empty."
        )
    for row, column, raw in getattr(scan, "odd_dates", ()):
        state.warn(
            f"{shown}, sheet {sheet_name}, row {row}, column {column_letter(column - 1)}: {raw[:24]} in a "
            "date-formatted cell is no date (negative, or past 9999-12-31); staged as the number."
        )


def _stage_fast(book, sheet_name, shown, spec, chunk, writer, state, progress, name) -> bool:
    """The xlsx fast path (readers/fast.py): whole columns in, whole columns out. False when the
    sheet has to be read cell by cell."""
    rows = book.read_fast(sheet_name, spec, state.skipped)
    if rows is None:
        return False
    state.read_by("fastexcel")
    _warn_formulas(book.scans[sheet_name], shown, sheet_name, state)
    if not rows.header:
        state.warn(f"{shown}, sheet {sheet_name}: empty sheet, nothing staged.")
    else:
        _warn_header(rows.header, shown, sheet_name, state)
        names = writer.staged_names(rows.header)
        task = progress.task(f"{name} [{sheet_name}]", total=len(rows))
        for numbers, columns in rows.chunks(chunk):
            writer.write_columns(sheet_name, names, numbers, columns)
            task.advance(len(numbers))
    state.rows += len(rows)
    state.sheets[sheet_name] = len(rows)
    return True


def _sheets(book: Workbook, spec: SourceSpec, shown: str, state: _RunState) -> list[str]:
    """The sheets a source declares, with a warning for each hidden one that matches."""
    chosen, state.hidden_sheets = _choose_sheets(book.sheets(), spec, shown)
    if len(chosen) > 1 and spec.sheet is None and spec.sheets is None and spec.sheet_pattern is None:
        state.warn(  # often a forgotten `sheet:`: a notes sheet's rows then fail as rejects
            f"{shown}: no sheet declared, so all {len(chosen)} visible sheets are stacked "
            f"({', '.join(chosen)}); declare `sheet:` (or `sheets:`) to read fewer."
        )
    for other, what in book.other_sheets.items():
        state.warn(f"{shown}, sheet {other}: {what}, no cells to stage; skipped.")
    for hidden in state.hidden_sheets:
        state.warn(
            f"{shown}, sheet {hidden}: hidden, {'included' if spec.include_hidden else 'left out (include_hidden: true to stage it)'}."
        )
    return chosen


def _choose_sheets(
    sheets: list[tuple[str, bool]], spec: SourceSpec, shown: str
) -> tuple[list[str], list[str]]:
    """(the sheets a source declares: by name, names, pattern, or all visible ones; the hidden
    ones its pattern matches) among (name, visible) sheets."""
    names = [n for n, _ in sheets]
    visible = {n for n, v in sheets if v}
    if spec.sheet is not None or spec.sheets is not None:
        wanted = [spec.sheet] if spec.sheet is not None else list(spec.sheets or ())
        missing = [w for w in wanted if w not in names]
        if missing:
            raise SourceError(f"{shown}: no sheet {missing[0]!r}; sheets: {', '.join(names)}.")
        return wanted, []
    pattern = re.compile(spec.sheet_pattern) if spec.sheet_pattern else None
    matching = [n for n in names if pattern is None or pattern.search(n)]
    hidden = [n for n in matching if n not in visible]
    chosen = [n for n in matching if spec.include_hidden or n in visible]
    if not chosen:
        raise SourceError(
            f"{shown}: no {'visible ' if not spec.include_hidden else ''}sheet matches {spec.sheet_pattern!r}; sheets: {', '.join(names)}.",
        )
    return chosen, hidden


def _extract_sql(
    project, store, name, spec, previous, declared, chunk, force, progress, started, claim
) -> SourceResult:
    url = database.source_url(spec, name, project.root)
    writer = StagingWriter(store, name, "sql", None, "", declared)
    state = _RunState(readers=["sqlalchemy stream"], claim=claim)
    hasher = hashlib.sha256()
    # a table's rows are counted first (cheap), for the bar's total and ETA; a query's are not
    # (counting would run it twice)
    total = database.count_rows(spec, name, project.root) if spec.table else None
    task = progress.task(name, total=total)
    bulk = (total or 0) >= BULK_ROWS
    try:
        if bulk:
            writer.start_bulk()
        names = None
        for header, first, columns in database.read_rows(spec, name, url, chunk):
            names = names or writer.staged_names(header)
            rows = database.hash_columns(hasher, columns)
            writer.write_lists(None, names, first, columns, bulk=bulk)  # written while the next chunk is read
            state.staged(rows)
            task.advance(rows)
        fp = f"rows:{state.rows};sha256:{hasher.hexdigest()}"
        if not force and previous and previous["fingerprint"] == fp and previous["spec_hash"] == declared:
            if store.has_table(staged_table(name)):
                writer.abandon("unchanged")
                return _unchanged(name, spec, previous, started)
        state.sheets[spec.table or "query"] = state.rows
        writer.set_fingerprint(fp)
        writer.finish(state.rows, state.sheets, {}, [], state.reader)
    except BaseException:
        writer.abandon()
        raise
    return state.result(name, spec, "extracted", fp, previous, writer.run_id, started)
