"""Map and validate: staged rows -> mapped rows of the unified model, or rejects with reasons.

One entity at a time, in load order, so that a reference resolves against the rows this
run has already mapped (and the target's rows). Per entity:

1. Staged rows are read in chunks (`stg_<source>`, several sources stacked in order).
2. Blank text ('' or only spaces) is NULL: legacy files do not tell the two apart, so no
   step ever sees '' and the target never receives it. Use the `default` step to fill.
3. Filters drop rows on purpose; each filtered row is counted under the filter's name.
4. Each target column is built from its source column(s) or constant by its steps, then
   parsed to the model's type if no step did (decimal, integer, date, timestamp, boolean).
5. Checks, first failure wins, so every rejected row has exactly one reason: step failures
   (in column order), the model's NOT NULL columns (missing_value), declared rules (in
   order), text too long for the model's column (out_of_range), references (unknown_reference).
6. After every chunk: duplicate groups of the natural key, and `unique` rules, among the
   rows still mapped. `reject_all` rejects every member of a group (a pair gives two
   rejects); `keep_first` / `keep_last` keep one member by `order_by` and reject the rest.

Row accounting: source rows = mapped + rejected + filtered, for every entity and run.
`simulate` writes to scratch tables in the work store, reports the same counts, and drops
them: the mapped tables load reads and the target are left as they were.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    column,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.exc import SQLAlchemyError

from migrate.errors import ConfigError, MigrateError, SourceError
from migrate.mapping import rules as quality
from migrate.mapping.spec import MappingSpec, mapping_path, read_mapping, required_columns
from migrate.mapping.transforms import (
    TEXT,
    StepContext,
    Transform,
    as_text,
    blank_to_na,
    check_step,
    load_project_transforms,
    run_step,
)
from migrate.mapping.values import UnmappedValue, load_value_maps
from migrate.model import ENTITIES, ExactDecimal, UtcDateTime
from migrate.progress import NO_PROGRESS, Progress
from migrate.project import Project
from migrate.store import LINEAGE, WorkStore, normalize_header, staged_table
from migrate.urls import redact

SAMPLES = 3
MAX_CANDIDATES = 10_000  # duplicate candidates listed in SQL; beyond, the whole table is ranked
_TEXT_STEPS = {"regex_extract", "replace", "unit_part", "prefix", "collapse_spaces"}
_TYPE_STEP = {"decimal": ("decimal", "integer"), "integer": ("integer",), "date": ("date",)}


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EntityResult:
    entity: str
    source_rows: int
    mapped: int
    rejected: int
    filtered: int
    rejected_by_reason: dict[str, int]
    filtered_by_filter: dict[str, int]
    unmapped: tuple[UnmappedValue, ...] = ()

    def to_dict(self) -> dict:
        return {
            "entity": self.entity,
            "source_rows": self.source_rows,
            "mapped": self.mapped,
            "rejected": self.rejected,
            "filtered": self.filtered,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "filtered_by_filter": dict(sorted(self.filtered_by_filter.items())),
            "unmapped_values": [
                {"value_map": u.value_map, "value": u.value, "count": u.count, "samples": list(u.samples)}
                for u in self.unmapped
            ],
        }


@dataclass(frozen=True)
class MapResult:
    simulate: bool
    entities: tuple[EntityResult, ...]

    def to_dict(self) -> dict:
        return {
            "ok": True,
            "simulate": self.simulate,
            "entities": {e.entity: e.to_dict() for e in self.entities},
        }


# --- compiled mapping --------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    transform: Transform
    args: dict
    label: str  # `quantity.decimal`, named in rejects


@dataclass(frozen=True)
class TargetColumn:
    name: str
    sources: tuple[str, ...]  # staged column names (normalized headers)
    headers: tuple[str, ...]  # as written in the mapping, for messages
    sep: str
    const: str | None
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Plan:
    spec: MappingSpec
    file: str
    columns: tuple[TargetColumn, ...]
    context: StepContext


def compile_mapping(spec: MappingSpec, file: str, context: StepContext) -> Plan:
    """Bind every step to its transform and every value map to its file, at config time."""
    columns = []
    for name, col in spec.columns.items():
        steps = []
        for i, step in enumerate(col.steps):
            key = f"columns.{name}.steps.{i}"
            found = check_step(step.name, step.args, file, key)
            if step.name == "value_map":
                map_name = step.args.get("name") or step.args.get("value")
                if map_name not in context.value_maps:
                    known = ", ".join(sorted(context.value_maps)) or "none"
                    raise ConfigError(f"unknown value map {map_name!r}; known: {known}.", file=file, key=key)
            steps.append(Step(found, step.args, f"{name}.{step.name}"))
        const = None if col.const is None else _const_text(col.const)
        headers = col.sources
        columns.append(
            TargetColumn(
                name, tuple(normalize_header(h) for h in headers), headers, col.sep, const, tuple(steps)
            )
        )
    return Plan(spec, file, tuple(columns), context)


def _const_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- per chunk ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one chunk became: mapped rows, rejects, filter counts, unmapped values."""

    mapped: pd.DataFrame
    rejects: pd.DataFrame
    filtered: Counter = field(default_factory=Counter)
    unmapped: list[pd.DataFrame] = field(default_factory=list)


class _Failures:
    """The first failure of each row: reason, rule, column, value, message."""

    def __init__(self, index: pd.Index) -> None:
        self.frame = pd.DataFrame(
            {
                k: pd.Series(None, index=index, dtype=object)
                for k in ("reason", "rule", "column", "value", "message")
            }
        )

    def add(self, mask: pd.Series, reason: str, rule: str, column, values, message: str) -> None:
        """Record a failure for rows not failed yet. `{value}` in the message is filled per
        rejected row only (rejects are few; the rows that pass never pay for messages)."""
        new = mask & self.frame["reason"].isna()
        if not new.any():
            return
        for key, value in (("reason", reason), ("rule", rule), ("column", column)):
            self.frame.loc[new, key] = value[new] if isinstance(value, pd.Series) else value
        shown = values[new].astype(object) if values is not None else None
        if shown is not None:
            self.frame.loc[new, "value"] = shown.where(shown.notna(), None)
        if "{value}" in message and shown is not None:
            filled = shown.map(lambda v: message.replace("{value}", repr(None if pd.isna(v) else v)))
            self.frame.loc[new, "message"] = filled
        else:
            self.frame.loc[new, "message"] = message

    @property
    def failed(self) -> pd.Series:
        return self.frame["reason"].notna()


def map_chunk(plan: Plan, staged: pd.DataFrame, references: dict[str, pd.Index]) -> Outcome:
    """Map one chunk of staged rows (lineage + staged columns as text): vectorised, no row loop."""
    entity = plan.spec.entity
    filtered = _apply_filters(plan, staged)
    alive = filtered.isna()
    failures = _Failures(staged.index)
    out = pd.DataFrame(
        {c: pd.Series(pd.NA, index=staged.index, dtype=TEXT) for c in ENTITIES[entity].mapped_columns}
    )
    unmapped: list[pd.DataFrame] = []
    for col in plan.columns:
        out[col.name] = _build_column(col, staged, alive, failures, unmapped, plan.context)
    _typed_and_required(entity, out, failures, plan)
    for i, rule in enumerate(plan.spec.rules):
        if rule.kind == "unique":
            continue
        mask, named = quality.failures(rule, out, entity)
        values = _named_values(out, named)
        failures.add(
            mask,
            rule.code,
            rule.name or f"rules.{i}.{rule.kind}",
            named,
            values,
            f"{named} {{value}}: {quality.describe(rule)}"
            if isinstance(named, str)
            else quality.describe(rule),
        )
    _check_lengths(entity, out, failures)
    _check_references(entity, out, failures, references)
    rejected = alive & failures.failed
    kept = alive & ~failures.failed
    lineage = staged[list(LINEAGE)]
    rejects = pd.concat([lineage[rejected], failures.frame[rejected]], axis=1)
    mapped = pd.concat([lineage[kept], out[kept]], axis=1)
    return Outcome(mapped, rejects, Counter(filtered.dropna()), unmapped)


def _named_values(out: pd.DataFrame, named) -> pd.Series:
    if isinstance(named, pd.Series):  # not_null: the first empty column per row; its value is empty
        return pd.Series(None, index=out.index, dtype=object)
    return out[named]


def _apply_filters(plan: Plan, staged: pd.DataFrame) -> pd.Series:
    name = pd.Series(None, index=staged.index, dtype=object)
    for f in plan.spec.filters:
        values = blank_to_na(as_text(staged[normalize_header(f.column)])).str.strip()
        if f.in_ is not None:
            hit = values.isin(list(f.in_))
        elif f.regex is not None:
            hit = values.str.contains(f.regex, regex=True)
        else:
            hit = values.isna() if f.empty else values.notna()
        hit = hit.fillna(False).astype(bool) & name.isna()
        name[hit] = f.name
    return name


def _source_values(col: TargetColumn, staged: pd.DataFrame) -> pd.Series:
    if col.const is not None:
        return pd.Series(col.const, index=staged.index, dtype=TEXT)
    parts = [blank_to_na(as_text(staged[s])) for s in col.sources]
    if len(parts) == 1:
        return parts[0]
    joined = parts[0].fillna("")
    for part in parts[1:]:
        joined = joined.str.cat(part.fillna(""), sep=col.sep)
    return blank_to_na(joined.str.strip())


def _build_column(col, staged, alive, failures: _Failures, unmapped: list, context) -> pd.Series:
    raw = _source_values(col, staged)
    values = raw
    for step in col.steps:
        before = values
        result = run_step(step.transform, values, step.args, context)
        values = as_text(result.values)
        if result.bad is not None:
            message = _step_message(step, col)
            failures.add(
                result.bad & alive, result.reason or "invalid_format", step.label, col.name, before, message
            )
        if result.unmapped is not None:
            hit = result.unmapped & alive
            if hit.any():
                name = step.args.get("name") or step.args.get("value")
                unmapped.append(
                    pd.concat([staged.loc[hit, list(LINEAGE)], before[hit].rename("value")], axis=1).assign(
                        value_map=name
                    )
                )
    if col.steps and col.steps[-1].transform.name in _TEXT_STEPS:
        values = blank_to_na(values)  # a text step (regex, replace...) may leave '' behind
    return values


_PHRASES = {
    "invalid_number": "is not a number",
    "invalid_date": "is not a valid date",
    "invalid_format": "does not have the expected format",
    "unknown_value": "is not a known code",
}


def _step_message(step: Step, col: TargetColumn) -> str:
    shown = ", ".join(col.headers) or "constant"
    phrase = _PHRASES.get(step.transform.reason or "", "was refused")
    if step.transform.name == "value_map":
        phrase = f"is not in value map {step.args.get('name') or step.args.get('value')}"
    elif step.transform.name == "integer":
        phrase = "is not a whole number"
    return f"{shown}: {{value}} {phrase} ({step.label})"


def _typed_and_required(entity: str, out: pd.DataFrame, failures: _Failures, plan: Plan) -> None:
    """Parse columns no step typed to the model's type; then the model's NOT NULL columns."""
    from migrate.mapping import transforms as t

    table = ENTITIES[entity].table
    stepped = {c.name: {s.transform.name for s in c.steps} for c in plan.columns}
    for name in out.columns:
        kind = _kind(table, name)
        if kind is None or name not in stepped or stepped[name] & set(_TYPE_STEP.get(kind, (kind,))):
            continue
        parser = {"decimal": t.decimal, "integer": t.integer, "date": t.date, "boolean": t.boolean}.get(kind)
        result = parser(out[name]) if parser else t.datetime_(out[name], plan.context)
        reason = t.TRANSFORMS["datetime" if parser is None else kind].reason
        message = f"{name}: {{value}} is not a valid {kind}"
        failures.add(result.bad, reason, f"{name}.{kind}", name, out[name], message)
        out[name] = result.values
    for name in required_columns(entity):
        missing = out[name].isna()
        failures.add(missing, "missing_value", "required", name, None, f"{name} is mandatory and empty")


def _kind(table, name: str) -> str | None:
    if name not in table.c:
        return None  # a reference by natural key: text
    sqltype = table.c[name].type
    if isinstance(sqltype, ExactDecimal):
        return "decimal"
    if isinstance(sqltype, UtcDateTime):
        return "datetime"
    name_of = type(sqltype).__name__
    return {"Integer": "integer", "Date": "date", "Boolean": "boolean"}.get(name_of)


def _check_lengths(entity: str, out: pd.DataFrame, failures: _Failures) -> None:
    table = ENTITIES[entity].table
    for name in out.columns:
        length = getattr(table.c[name].type, "length", None) if name in table.c else None
        if length is None and name not in table.c:
            length = 60  # natural-key references: the longest key column of the model
        if length:
            too_long = out[name].str.len().fillna(0) > length
            failures.add(
                too_long,
                "out_of_range",
                f"{name}.length",
                name,
                out[name],
                f"{name} is longer than {length} characters",
            )


def _check_references(
    entity: str, out: pd.DataFrame, failures: _Failures, references: dict[str, pd.Index]
) -> None:
    for ref in ENTITIES[entity].references:
        values = out[ref.column]
        missing = values.notna() & ~values.isin(references[ref.column])
        if missing.any():
            message = f"{ref.column} {{value}} is not a known {ref.entity}"
            failures.add(missing, "unknown_reference", f"reference.{ref.entity}", ref.column, values, message)


# --- work-store tables ---------------------------------------------------------------------


class Tables:
    """Names of map's tables: the real ones, or scratch copies for `--simulate`."""

    def __init__(self, simulate: bool) -> None:
        self.prefix = "scratch_" if simulate else ""

    def mapped(self, entity: str) -> str:
        return f"{self.prefix}map_{entity}"

    @property
    def rejects(self) -> str:
        return f"{self.prefix}map_rejects"

    @property
    def runs(self) -> str:
        return f"{self.prefix}map_runs"


def mapped_schema(name: str, entity: str) -> Table:
    cols = [Column("_row_id", Integer, primary_key=True, autoincrement=False)]
    cols += [Column(c, Integer if c == "_row" else Text) for c in LINEAGE]
    cols += [Column(c, Text) for c in ENTITIES[entity].mapped_columns]
    return Table(name, MetaData(), *cols)


def rejects_schema(name: str) -> Table:
    cols = [Column("_row_id", Integer, primary_key=True), Column("entity", String(60), index=True)]
    cols += [Column(c, Integer if c == "_row" else Text) for c in LINEAGE]
    cols += [Column(c, Text) for c in ("reason", "rule", "column", "value", "message")]
    return Table(name, MetaData(), *cols)


def runs_schema(name: str) -> Table:
    return Table(
        name,
        MetaData(),
        Column("_row_id", Integer, primary_key=True),
        Column("entity", String(60)),
        Column("run_at", Text),
        *(Column(c, Integer) for c in ("source_rows", "mapped", "rejected", "filtered")),
        Column("details", Text),
    )


def insert_frame(engine: Engine, target: Table, frame: pd.DataFrame) -> None:
    """Rows in one driver-level executemany of tuples (identifiers quoted by the dialect).

    SQLAlchemy's per-row parameter processing and `to_dict("records")` cost more than the
    mapping itself at a million rows; the columns here are plain text and integers.
    """
    if frame.empty:
        return
    names = [c.name for c in target.columns if c.name in frame.columns]
    quote = engine.dialect.identifier_preparer.quote
    marks = ", ".join("?" if engine.dialect.paramstyle == "qmark" else "%s" for _ in names)
    sql = f"INSERT INTO {quote(target.name)} ({', '.join(quote(n) for n in names)}) VALUES ({marks})"
    rows = list(zip(*(_python_values(frame[n]) for n in names), strict=True))
    with engine.begin() as conn:
        conn.exec_driver_sql(sql, rows)


def _python_values(values: pd.Series) -> list:
    if values.dtype == TEXT:
        return pa.array(values).to_pylist()
    out = values.astype(object)
    return out.where(out.notna(), None).tolist()


def read_staged(engine: Engine, name: str, columns: list[str], chunk_size: int):
    """A staged table in row order, only the needed columns (quoted by the dialect), as text.

    Read with the driver's cursor and turned into pyarrow text columns directly: row objects
    and `from_records` would cost more than the mapping itself."""
    query = select(*(column(c) for c in columns)).select_from(table(name)).order_by(column("_row_id"))
    with engine.connect().execution_options(stream_results=True) as conn:
        compiled = query.compile(dialect=engine.dialect)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(str(compiled), ())
            while rows := cursor.fetchmany(chunk_size):
                yield _frame(rows, columns)
        finally:
            cursor.close()


def _frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    grid = np.empty((len(rows), len(columns)), dtype=object)
    grid[:] = rows  # one C-level copy; columns are then sliced, not transposed in Python
    data = {}
    for i, name in enumerate(columns):
        values = grid[:, i]
        if name in LINEAGE:
            data[name] = pd.Series(values, dtype=object)
            continue
        try:
            array = pa.array(values, type=pa.string(), from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # a number staged by a lax writer: as its text
            array = pa.array([None if v is None else str(v) for v in values], type=pa.string())
        data[name] = pd.Series(array, dtype=TEXT)
    return pd.DataFrame(data)


# --- the stage -------------------------------------------------------------------------------


@dataclass
class _Run:
    project: Project
    store: WorkStore
    tables: Tables
    simulate: bool
    mapped_now: set[str] = field(default_factory=set)
    target_keys: dict[str, set[str]] = field(default_factory=dict)


def load_plans(project: Project, entities: tuple[str, ...]) -> dict[str, Plan]:
    """Parse, validate and compile the mapping of each selected entity (all before any work)."""
    load_project_transforms(project.spec.transforms, project.root)
    value_maps = load_value_maps(project.root)
    plans = {}
    for name in entities:
        path = mapping_path(project.root, name)
        file = str(path.relative_to(project.root))
        if not path.exists():
            raise ConfigError(
                f"no mapping for {name}.", file=file, hint=f"Write {file} (see `migrate init`)."
            )
        spec = read_mapping(path, project.root)
        for i, source in enumerate(spec.sources):
            if source not in project.spec.sources:
                known = ", ".join(project.spec.sources) or "none"
                raise ConfigError(
                    f"source {source!r} is not declared in project.yaml; declared: {known}.",
                    file=file,
                    key=f"sources.{i}",
                )
        context = StepContext(timezone=spec.timezone or project.spec.defaults.timezone, value_maps=value_maps)
        plans[name] = compile_mapping(spec, file, context)
    return plans


def map_entities(
    project: Project,
    entities: tuple[str, ...] | list[str] = (),
    *,
    phase: str | None = None,
    simulate: bool = False,
    quarantine: Path | None = None,
    progress: Progress = NO_PROGRESS,
) -> MapResult:
    """Map the selected entities in load order (every entity with a mapping file when none is named)."""
    chosen = project.entities(tuple(entities), phase)
    if not entities and phase is None:
        chosen = tuple(e for e in chosen if mapping_path(project.root, e).exists())
    plans = load_plans(project, chosen)
    run = _Run(project, WorkStore(project.staging_url), Tables(simulate), simulate)
    try:
        results = tuple(_map_entity(run, plans[name], progress) for name in chosen)
        if quarantine is not None:
            _write_quarantine(run, chosen, quarantine)
        return MapResult(simulate, results)
    except SQLAlchemyError as exc:
        raise SourceError(f"the work store failed: {redact(str(exc.orig or exc))}.") from None
    finally:
        if simulate:
            _drop_scratch(run, chosen)
        run.store.dispose()


def _map_entity(run: _Run, plan: Plan, progress: Progress) -> EntityResult:
    entity = plan.spec.entity
    engine = run.store.engine
    out_table = mapped_schema(run.tables.mapped(entity), entity)
    rejects = rejects_schema(run.tables.rejects)
    out_table.drop(engine, checkfirst=True)
    out_table.create(engine)
    rejects.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(rejects.delete().where(rejects.c.entity == entity))
    references = _reference_keys(run, entity)
    counts = _Counts()
    task = progress.task(
        f"map {entity}", total=sum(run.store.count(staged_table(s)) for s in plan.spec.sources)
    )
    for source in plan.spec.sources:
        for staged in _staged_chunks(run, plan, source):
            outcome = map_chunk(plan, staged, references)
            _write_outcome(engine, out_table, rejects, entity, outcome, counts)
            counts.remember_keys([rule[0] for rule in _set_rules(plan)], outcome.mapped)
            task.advance(len(staged))
    for key, policy, order_by, label, reason in _set_rules(plan):
        candidates = counts.duplicate_candidates(key)
        if candidates is not None and len(candidates) == 0:
            continue  # no two rows share a key hash: no duplicate group, no SQL pass needed
        counts.reasons[reason] += _reject_groups(
            engine, out_table, rejects, entity, key, policy, order_by, label, reason, candidates
        )
    run.mapped_now.add(entity)
    result = counts.result(entity, run.store, out_table.name)
    if not run.simulate:
        _record_run(engine, run.tables.runs, result)
    return result


@dataclass
class _Counts:
    source_rows: int = 0
    next_id: int = 1
    reasons: Counter = field(default_factory=Counter)
    filters: Counter = field(default_factory=Counter)
    unmapped: list[pd.DataFrame] = field(default_factory=list)
    key_hashes: dict[tuple, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)

    def remember_keys(self, keys: list[tuple[str, ...]], mapped: pd.DataFrame) -> None:
        """Hash each set rule's key per mapped row (8 bytes a row), to find duplicate groups
        without a full-table SQL pass when there are none."""
        for key in keys:
            present = mapped[list(key)].notna().all(axis=1)
            hashes = pd.util.hash_pandas_object(mapped.loc[present, list(key)], index=False).to_numpy()
            ids = mapped.loc[present, "_row_id"].to_numpy()
            self.key_hashes.setdefault(tuple(key), []).append((ids, hashes))

    def duplicate_candidates(self, key) -> np.ndarray | None:
        """Row ids whose key hash is shared (a superset of every duplicate group); None: too many
        to list, check the whole table."""
        parts = self.key_hashes.get(tuple(key), [])
        if not parts:
            return np.array([], dtype=np.int64)
        ids = np.concatenate([p[0] for p in parts])
        hashes = pd.Series(np.concatenate([p[1] for p in parts]))
        candidates = ids[hashes.duplicated(keep=False).to_numpy()]
        return candidates if len(candidates) <= MAX_CANDIDATES else None

    def result(self, entity: str, store: WorkStore, mapped_table: str) -> EntityResult:
        mapped = store.count(mapped_table)
        rejected, filtered = sum(self.reasons.values()), sum(self.filters.values())
        return EntityResult(
            entity,
            self.source_rows,
            mapped,
            rejected,
            filtered,
            {k: v for k, v in self.reasons.items() if v},
            dict(self.filters),
            _summarise_unmapped(self.unmapped),
        )


def _staged_chunks(run: _Run, plan: Plan, source: str):
    name = staged_table(source)
    if not run.store.has_table(name):
        raise SourceError(
            f"source {source!r} has not been extracted (no table {name} in the work store).",
            file=plan.file,
            hint=f"Run `migrate extract {source}` first.",
        )
    available = set(run.store.columns(name))
    needed = list(LINEAGE)
    for col in plan.columns:
        for staged, header in zip(col.sources, col.headers, strict=True):
            if staged not in available:
                _missing_column(plan, source, f"columns.{col.name}.from", header, available)
            needed.append(staged)
    for i, f in enumerate(plan.spec.filters):
        if normalize_header(f.column) not in available:
            _missing_column(plan, source, f"filters.{i}.column", f.column, available)
        needed.append(normalize_header(f.column))
    needed = list(dict.fromkeys(needed))
    yield from read_staged(run.store.engine, name, needed, run.project.spec.defaults.chunk_size)


def _missing_column(plan: Plan, source: str, key: str, header: str, available: set[str]) -> None:
    shown = ", ".join(sorted(c for c in available if not c.startswith("_")))
    raise ConfigError(
        f"source {source!r} has no column {header!r}; it has: {shown}.", file=plan.file, key=key
    )


def _write_outcome(
    engine, out_table: Table, rejects: Table, entity: str, outcome: Outcome, counts: _Counts
) -> None:
    mapped = outcome.mapped
    mapped.insert(0, "_row_id", range(counts.next_id, counts.next_id + len(mapped)))
    counts.next_id += len(mapped)
    insert_frame(engine, out_table, mapped)
    insert_frame(engine, rejects, outcome.rejects.assign(entity=entity))
    counts.source_rows += len(mapped) + len(outcome.rejects) + sum(outcome.filtered.values())
    counts.reasons.update(outcome.rejects["reason"].value_counts().to_dict())
    counts.filters.update(outcome.filtered)
    counts.unmapped.extend(outcome.unmapped)


def _set_rules(plan: Plan):
    """Duplicate policy on the natural key, then each `unique` rule (always reject_all)."""
    spec = plan.spec
    entity = ENTITIES[spec.entity]
    yield entity.natural_key, spec.duplicates.policy, spec.duplicates.order_by, "duplicates", "duplicate_key"
    for i, rule in enumerate(spec.rules):
        if rule.kind == "unique":
            yield rule.unique, "reject_all", "_row_id", rule.name or f"rules.{i}.unique", rule.code


def _reject_groups(
    engine, out_table: Table, rejects: Table, entity: str, key, policy, order_by, label, reason, candidates
) -> int:
    """Move duplicate-group members from the mapped table to the rejects, in SQL."""
    keys = [out_table.c[k] for k in key]
    order = out_table.c[order_by]
    if order_by != "_row_id" and quality.is_numeric(entity, order_by):
        order = order.cast(ExactDecimal().impl)
    from sqlalchemy import func

    ordered = order.desc() if policy == "keep_last" else order.asc()
    tiebreak = out_table.c._row_id.desc() if policy == "keep_last" else out_table.c._row_id.asc()
    ranked = (
        select(
            out_table.c._row_id,
            func.count().over(partition_by=keys).label("n"),
            func.row_number().over(partition_by=keys, order_by=[ordered, tiebreak]).label("rn"),
        )
        .where(*(k.is_not(None) for k in keys))
        .where(out_table.c._row_id.in_([int(i) for i in candidates]) if candidates is not None else True)
        .subquery()
    )
    doomed = select(ranked.c._row_id).where(ranked.c.n > 1)
    if policy != "reject_all":
        doomed = doomed.where(ranked.c.rn > 1)
    with engine.begin() as conn:
        rows = pd.DataFrame(
            conn.execute(select(out_table).where(out_table.c._row_id.in_(doomed))).mappings().all()
        )
        if rows.empty:
            return 0
        value = rows[list(key)].astype(object).fillna("").astype(str).agg(" | ".join, axis=1)
        frame = rows[list(LINEAGE)].assign(
            entity=entity,
            reason=reason,
            rule=label,
            column=", ".join(key),
            value=value,
            message=f"{', '.join(key)} " + value.map(repr) + f" is not unique ({policy})",
        )
        data = frame.astype(object).where(frame.notna(), None)
        conn.execute(rejects.insert(), data.to_dict("records"))
        conn.execute(out_table.delete().where(out_table.c._row_id.in_(doomed)))
    return len(frame)


def _reference_keys(run: _Run, entity: str) -> dict[str, pd.Index]:
    """For each reference column: natural keys mapped in the work store or present in the target."""
    keys: dict[str, pd.Index] = {}
    for ref in ENTITIES[entity].references:
        referenced = ENTITIES[ref.entity].key_column
        found = set(_target_keys(run, ref.entity))
        name = run.tables.mapped(ref.entity) if ref.entity in run.mapped_now else f"map_{ref.entity}"
        if run.store.has_table(name):
            with run.store.engine.connect() as conn:
                found.update(
                    v
                    for (v,) in conn.execute(select(column(referenced)).select_from(table(name)))
                    if v is not None
                )
        keys[ref.column] = pd.Index(sorted(found), dtype=object)
    return keys


def _target_keys(run: _Run, entity: str) -> set[str]:
    """Natural keys already in the target, if it exists and is at the schema head (else none)."""
    if entity in run.target_keys:
        return run.target_keys[entity]
    from migrate import db

    keys: set[str] = set()
    url = run.project.target_url
    exists = url.get_backend_name() != "sqlite" or (url.database and Path(url.database).exists())
    if exists:
        engine = db.make_engine(url)
        try:
            if db.current(engine) == db.head() and inspect(engine).has_table(entity):
                column_name = ENTITIES[entity].key_column
                with engine.connect() as conn:
                    keys = {str(v) for (v,) in conn.execute(select(ENTITIES[entity].table.c[column_name]))}
        except (SQLAlchemyError, MigrateError):  # unreachable target: map works on the run's rows
            keys = set()
        finally:
            engine.dispose()
    run.target_keys[entity] = keys
    return keys


def _summarise_unmapped(frames: list[pd.DataFrame]) -> tuple[UnmappedValue, ...]:
    if not frames:
        return ()
    every = pd.concat(frames, ignore_index=True)
    every["where"] = lineage_text(every)
    out = []
    for (name, value), group in every.groupby(["value_map", "value"], sort=True):
        out.append(UnmappedValue(str(name), str(value), len(group), tuple(group["where"].head(SAMPLES))))
    return tuple(sorted(out, key=lambda u: (u.value_map, -u.count, u.value)))


def lineage_text(frame: pd.DataFrame) -> pd.Series:
    """`file, sheet S, row N` per row (the sheet only when there is one)."""
    sheet = frame["_sheet"].astype(object)
    shown = frame["_file"].astype(object).fillna("").astype(str)
    shown = shown.where(sheet.isna(), shown + ", sheet " + sheet.fillna("").astype(str))
    return shown + ", row " + frame["_row"].astype(object).astype(str)


def _record_run(engine, name: str, result: EntityResult) -> None:
    runs = runs_schema(name)
    runs.create(engine, checkfirst=True)
    details = {
        "rejected_by_reason": result.rejected_by_reason,
        "filtered_by_filter": result.filtered_by_filter,
    }
    with engine.begin() as conn:
        conn.execute(
            runs.insert(),
            {
                "entity": result.entity,
                "run_at": datetime.now(UTC).isoformat(),
                "source_rows": result.source_rows,
                "mapped": result.mapped,
                "rejected": result.rejected,
                "filtered": result.filtered,
                "details": json.dumps(details, ensure_ascii=False, sort_keys=True),
            },
        )


def read_rejects(store: WorkStore, entity: str, name: str = "map_rejects") -> pd.DataFrame:
    if not store.has_table(name):
        return pd.DataFrame()
    t = rejects_schema(name)
    with store.engine.connect() as conn:
        return pd.DataFrame(
            conn.execute(select(t).where(t.c.entity == entity).order_by(t.c._row_id)).mappings().all()
        )


def _write_quarantine(run: _Run, entities: tuple[str, ...], path: Path) -> None:
    from migrate.mapping.report import write_quarantine

    frames = ((e, read_rejects(run.store, e, run.tables.rejects)) for e in entities)
    write_quarantine(path, ((e, f) for e, f in frames if not f.empty))


def _drop_scratch(run: _Run, entities: tuple[str, ...]) -> None:
    try:
        for name in [*(run.tables.mapped(e) for e in entities), run.tables.rejects]:
            with run.store.engine.begin() as conn:
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))  # names built from checked entity names
    except SQLAlchemyError:
        pass  # scratch left behind is harmless; the next simulate replaces it


# --- the consultant's loop: unmapped values out, filled values back ----------------------------


@dataclass(frozen=True)
class ExportResult:
    path: Path
    values: int
    by_value_map: dict[str, int]


def export_values(
    project: Project, path: Path, entities: tuple[str, ...] = (), *, progress: Progress = NO_PROGRESS
) -> ExportResult:
    """Simulate the mapping (nothing written) and list every unmapped value for the consultant."""
    from migrate.mapping.values import write_export

    result = map_entities(project, entities, simulate=True, progress=progress)
    merged: dict[tuple[str, str], UnmappedValue] = {}
    for item in (u for e in result.entities for u in e.unmapped):
        seen = merged.get((item.value_map, item.value))
        if seen is not None:  # the same code met through two entities: one row, counts added
            item = UnmappedValue(
                item.value_map, item.value, seen.count + item.count, (seen.samples + item.samples)[:SAMPLES]
            )
        merged[(item.value_map, item.value)] = item
    write_export(path, list(merged.values()))
    return ExportResult(path, len(merged), dict(Counter(k for k, _ in merged)))


@dataclass(frozen=True)
class ImportResult:
    path: Path
    added: dict[str, int]


def import_values(project: Project, path: Path) -> ImportResult:
    """Merge a filled export workbook into the value maps (validated before anything is written)."""
    from migrate.mapping.values import merge_entries, read_import

    maps = load_value_maps(project.root)
    additions = read_import(path, maps)
    added = {name: merge_entries(maps[name], entries, project.root) for name, entries in additions.items()}
    return ImportResult(path, {k: v for k, v in added.items() if v})
