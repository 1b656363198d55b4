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
   order), the model's enumerations (not_allowed) and text lengths (too_long), references
   (unknown_reference).
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
from sqlalchemy import Table, column, func, inspect, select, table, text
from sqlalchemy.exc import SQLAlchemyError

from migrate import db
from migrate.errors import ConfigError, MigrateError, SourceError
from migrate.mapping import rules as quality
from migrate.mapping.chunk import Outcome, map_chunk
from migrate.mapping.constraints import value_map_targets
from migrate.mapping.keyhashes import KeyHashes
from migrate.mapping.plan import EntityPlan, Plan, compile_mapping
from migrate.mapping.report import write_quarantine
from migrate.mapping.reshape import load_sides, mapping_plan, needed_columns, prepared_chunks
from migrate.mapping.spec import mapping_path, read_mapping
from migrate.mapping.tables import (
    MappedWriter,
    Tables,
    create_rejects,
    mapped_schema,
    read_staged,
    rejects_schema,
    runs_schema,
)
from migrate.mapping.transforms import TEXT, StepContext, load_project_transforms
from migrate.mapping.values import (
    UnmappedValue,
    allowed_codes,
    load_value_maps,
    merge_entries,
    read_import,
    write_export,
)
from migrate.model import ENTITIES, ExactDecimal
from migrate.progress import NO_PROGRESS, Progress
from migrate.project import Project
from migrate.store import (
    LINEAGE,
    WorkStore,
    forget_fingerprint,
    input_fingerprint,
    normalize_header,
    record_fingerprint,
    staged_table,
)
from migrate.urls import redact

__all__ = ["map_chunk", "read_staged", "map_entities", "load_plans", "export_values", "import_values"]

SAMPLES = 3
MAX_CANDIDATES = 10_000  # duplicate candidates listed in SQL; beyond, the whole table is ranked


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceCounts:
    """One source block's share of an entity's accounting. `read`: staged rows read; `rows`:
    rows they became (a join or `unpivot` makes more, `aggregate` fewer) = mapped + rejected
    + filtered."""

    source: str
    read: int
    rows: int
    mapped: int
    rejected: int
    filtered: int

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "read": self.read,
            "rows": self.rows,
            "mapped": self.mapped,
            "rejected": self.rejected,
            "filtered": self.filtered,
        }


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
    defaulted: tuple[UnmappedValue, ...] = ()  # codes a value map gave its declared default
    by_source: tuple[SourceCounts, ...] = ()  # each source block's share, in stacking order
    examples: dict[str, str] = field(default_factory=dict)  # reason -> the first reject's message

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
            "defaulted_values": [
                {"value_map": u.value_map, "value": u.value, "count": u.count, "samples": list(u.samples)}
                for u in self.defaulted
            ],
            "by_source": [s.to_dict() for s in self.by_source],
            "examples": dict(sorted(self.examples.items())),
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


# --- the stage -------------------------------------------------------------------------------


@dataclass
class _Run:
    project: Project
    store: WorkStore
    tables: Tables
    simulate: bool
    mapped_now: set[str] = field(default_factory=set)
    target_keys: dict[str, set[str]] = field(default_factory=dict)

    def mapped_name(self, entity: str) -> str:
        """The table of an entity's mapped rows: this run's (scratch when simulating) or the last run's."""
        return self.tables.mapped(entity) if entity in self.mapped_now else f"map_{entity}"


def load_plans(project: Project, entities: tuple[str, ...]) -> dict[str, EntityPlan]:
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
        for key, source in _declared_sources(spec):
            if source not in project.spec.sources:
                known = ", ".join(project.spec.sources) or "none"
                raise ConfigError(
                    f"source {source!r} is not declared in project.yaml; declared: {known}.",
                    file=file,
                    key=key,
                )
        context = StepContext(timezone=spec.timezone or project.spec.defaults.timezone, value_maps=value_maps)
        plans[name] = compile_mapping(spec, file, context)
    return plans


def _declared_sources(spec) -> list[tuple[str, str]]:
    """(key path, source name) of every source a mapping file reads: blocks, joins, lookups."""
    found = []
    for i, block in enumerate(spec.sources):
        found.append((f"sources.{i}.source" if block.columns or block.join else f"sources.{i}", block.source))
        found += [(f"sources.{i}.join.{j}.source", join.source) for j, join in enumerate(block.join)]
        seen = spec.for_source(i)
        for name, col in seen.columns.items():
            found += [(f"columns.{name}.lookup.source", lk.source) for lk in col.lookups() if lk.source]
    return found


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


def _map_entity(run: _Run, plan: EntityPlan, progress: Progress) -> EntityResult:
    entity = plan.spec.entity
    engine = run.store.engine
    out_table = mapped_schema(run.tables.mapped(entity), entity)
    rejects = rejects_schema(run.tables.rejects)
    if not run.simulate:
        forget_fingerprint(engine, out_table.name)  # before the table changes: load re-reads it
    out_table.drop(engine, checkfirst=True)
    out_table.create(engine)
    create_rejects(engine, rejects)
    with engine.begin() as conn:
        conn.execute(rejects.delete().where(rejects.c.entity == entity))
    for source_plan in plan.sources:  # every block checked before any row is written
        _check_source(run, source_plan)
    staged = sum(run.store.count(staged_table(s)) for s in plan.spec.source_names)
    counts = _Counts()
    writer = MappedWriter(engine, out_table, entity, staged)
    try:
        _write_blocks(run, plan, writer, rejects, counts, progress.task(f"map {entity}", total=staged))
        fingerprint = writer.finish()
    finally:
        writer.close()
    try:
        moved = _reject_duplicates(engine, plan, out_table, rejects, entity, counts)
    finally:
        counts.close()
    run.mapped_now.add(entity)
    result = counts.result(entity, run.store, out_table)
    if not run.simulate:
        if moved:  # rows left the table after they were digested: the fingerprint of what stays
            fingerprint = input_fingerprint(engine, out_table.name, writer.columns)
        record_fingerprint(engine, out_table.name, *fingerprint)
        _record_run(engine, run.tables.runs, result)
    return result


def _reject_duplicates(
    engine, plan: EntityPlan, out_table: Table, rejects: Table, entity: str, counts
) -> int:
    """Each set rule's duplicate groups moved to rejects; how many rows moved."""
    moved = 0
    for key, policy, order_by, label, reason in _set_rules(plan):
        candidates = counts.duplicate_candidates(key)
        if candidates is not None and len(candidates) == 0:
            continue  # no two rows share a key hash: no duplicate group, no SQL pass needed
        found = _reject_groups(
            engine, out_table, rejects, entity, key, policy, order_by, label, reason, candidates
        )
        counts.reasons[reason] += found
        moved += found
    return moved


def _write_blocks(run: _Run, plan: EntityPlan, writer: MappedWriter, rejects: Table, counts, task) -> None:
    """Each source block's chunks mapped and written, in order (`_row_id`s ascending)."""
    references = _reference_keys(run, plan.spec.entity)
    for source_plan in plan.sources:
        sides = load_sides(run.store, source_plan, run.mapped_name, run.project.spec.defaults.chunk_size)
        block = counts.start_block(source_plan.source)
        chunk_plan = mapping_plan(source_plan)
        for prepared in prepared_chunks(run.store, source_plan, run.project.spec.defaults.chunk_size):
            outcome = map_chunk(chunk_plan, prepared.rows, references, sides)
            outcome = prepared.merged_with(outcome)
            _write_outcome(writer, rejects, plan.spec.entity, outcome, counts)
            block.add(prepared.read, outcome)
            counts.remember_keys([rule[0] for rule in _set_rules(plan)], outcome.mapped)
            task.advance(prepared.read)
        block.last_id = counts.next_id - 1


@dataclass
class _Block:
    """One source block's running counts; its mapped rows hold the `_row_id`s first_id..last_id."""

    source: str
    first_id: int
    last_id: int = 0
    read: int = 0
    rows: int = 0
    rejected: int = 0
    filtered: int = 0

    def add(self, read: int, outcome: Outcome) -> None:
        self.read += read
        self.rejected += len(outcome.rejects)
        self.filtered += sum(outcome.filtered.values())
        self.rows += len(outcome.mapped) + len(outcome.rejects) + sum(outcome.filtered.values())

    def counts(self, conn, out_table: Table) -> SourceCounts:
        """Mapped rows left after the duplicate pass; those it moved count as rejected."""
        ids = out_table.c._row_id
        mapped = conn.execute(
            select(func.count()).select_from(out_table).where(ids.between(self.first_id, self.last_id))
        ).scalar_one()
        moved = self.rows - self.rejected - self.filtered - mapped
        return SourceCounts(self.source, self.read, self.rows, mapped, self.rejected + moved, self.filtered)


@dataclass
class _Counts:
    source_rows: int = 0
    next_id: int = 1
    reasons: Counter = field(default_factory=Counter)
    filters: Counter = field(default_factory=Counter)
    unmapped: list[pd.DataFrame] = field(default_factory=list)
    defaulted: list[pd.DataFrame] = field(default_factory=list)
    key_hashes: dict[tuple, KeyHashes] = field(default_factory=dict)
    blocks: list[_Block] = field(default_factory=list)

    def start_block(self, source: str) -> _Block:
        self.blocks.append(_Block(source, self.next_id))
        return self.blocks[-1]

    examples: dict[str, str] = field(default_factory=dict)

    def remember_keys(self, keys: list[tuple[str, ...]], mapped: pd.DataFrame) -> None:
        """Hash each set rule's key per mapped row, to find duplicate groups without a
        full-table SQL pass when there are none (kept on disk: `keyhashes.py`)."""
        for key in keys:
            present = mapped[list(key)].notna().all(axis=1)
            hashes = _key_hashes(mapped.loc[present, list(key)])
            ids = mapped.loc[present, "_row_id"].to_numpy()
            self.key_hashes.setdefault(tuple(key), KeyHashes()).add(ids, hashes)

    def duplicate_candidates(self, key) -> np.ndarray | None:
        """Row ids whose key hash is shared (a superset of every duplicate group); None: too many
        to list, check the whole table."""
        remembered = self.key_hashes.get(tuple(key))
        if remembered is None:
            return np.array([], dtype=np.int64)
        return remembered.shared(MAX_CANDIDATES)

    def close(self) -> None:
        for remembered in self.key_hashes.values():
            remembered.close()

    def result(self, entity: str, store: WorkStore, out_table: Table) -> EntityResult:
        mapped = store.count(out_table.name)
        rejected, filtered = sum(self.reasons.values()), sum(self.filters.values())
        with store.engine.connect() as conn:
            by_source = tuple(block.counts(conn, out_table) for block in self.blocks)
        return EntityResult(
            entity,
            self.source_rows,
            mapped,
            rejected,
            filtered,
            {k: v for k, v in self.reasons.items() if v},
            dict(self.filters),
            _summarise_unmapped(self.unmapped),
            _summarise_unmapped(self.defaulted),
            by_source,
            {k: v for k, v in self.examples.items() if self.reasons.get(k)},
        )


def _key_hashes(keys: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's key (no NULL in it): each column dictionary-encoded by Arrow,
    only its distinct values hashed (pandas' siphash, the same in every chunk), combined per row."""
    combined = np.zeros(len(keys), dtype=np.uint64)
    for name in keys.columns:
        values = pa.array(keys[name].astype(TEXT))
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        encoded = values.dictionary_encode()
        distinct = pd.util.hash_array(encoded.dictionary.to_numpy(zero_copy_only=False).astype(object))
        combined = combined * np.uint64(1_000_003) ^ distinct[encoded.indices.to_numpy()]
    return combined


def _check_source(run: _Run, plan: Plan) -> None:
    """The source (and every source it joins or looks in) is extracted and has the columns
    the mapping reads; the message names the key path."""
    for source, headers in needed_columns(plan):
        name = staged_table(source)
        if not run.store.has_table(name):
            raise SourceError(
                f"source {source!r} has not been extracted (no table {name} in the work store).",
                file=plan.file,
                hint=f"Run `migrate extract {source}` first, or choose the entities to map (by name, or "
                "--phase P for one phase's).",
            )
        available = set(run.store.columns(name))
        for key, header in headers:
            if normalize_header(header) not in available:
                _missing_column(plan, source, key, header, available)


def _missing_column(plan: Plan, source: str, key: str, header: str, available: set[str]) -> None:
    shown = ", ".join(sorted(c for c in available if not c.startswith("_")))
    raise ConfigError(
        f"source {source!r} has no column {header!r}; it has: {shown}.", file=plan.file, key=key
    )


def _write_outcome(
    writer: MappedWriter, rejects: Table, entity: str, outcome: Outcome, counts: _Counts
) -> None:
    mapped = outcome.mapped
    mapped.insert(0, "_row_id", range(counts.next_id, counts.next_id + len(mapped)))
    counts.next_id += len(mapped)
    writer.write(mapped, outcome.rejects.assign(entity=entity), rejects)
    counts.source_rows += len(mapped) + len(outcome.rejects) + sum(outcome.filtered.values())
    counts.reasons.update(outcome.rejects["reason"].value_counts().to_dict())
    firsts = outcome.rejects.drop_duplicates("reason")
    for reason, message in zip(firsts["reason"], firsts["message"], strict=True):
        counts.examples.setdefault(reason, str(message))
    counts.filters.update(outcome.filtered)
    counts.unmapped.extend(outcome.unmapped)
    counts.defaulted.extend(outcome.defaulted)


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
            key=rows[list(ENTITIES[entity].natural_key)]
            .astype(object)
            .fillna("")
            .astype(str)
            .agg(" | ".join, axis=1),
            reasons=reason,
        )
        data = frame.astype(object).where(frame.notna(), None)
        conn.execute(rejects.insert(), data.to_dict("records"))
        conn.execute(out_table.delete().where(out_table.c._row_id.in_(doomed)))
    return len(frame)


def _reference_keys(run: _Run, entity: str) -> dict[str, pa.Array]:
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
        keys[ref.column] = pa.array(sorted(found), type=pa.string())
    return keys


def _target_keys(run: _Run, entity: str) -> set[str]:
    """Natural keys already in the target, if it exists and is at the schema head (else none)."""
    if entity in run.target_keys:
        return run.target_keys[entity]
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
    """`file, sheet S, row N` per row (the sheet only when there is one); a database source has
    no file: `source NAME, row N` (the row's place in its table or query)."""
    sheet, file = frame["_sheet"].astype(object), frame["_file"].astype(object)
    shown = file.where(
        file.notna(), "source " + frame["_source"].astype(object).fillna("").astype(str)
    ).astype(str)
    shown = shown.where(sheet.isna(), shown + ", sheet " + sheet.fillna("").astype(str))
    return shown + ", row " + frame["_row"].astype(object).astype(str)


def _record_run(engine, name: str, result: EntityResult) -> None:
    runs = runs_schema(name)
    runs.create(engine, checkfirst=True)
    details = {
        "rejected_by_reason": result.rejected_by_reason,
        "filtered_by_filter": result.filtered_by_filter,
        "by_source": [s.to_dict() for s in result.by_source],
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


def _write_quarantine(run: _Run, entities: tuple[str, ...], path: Path) -> None:
    write_quarantine(path, run.store, entities, run.tables.rejects)


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
    project: Project,
    path: Path,
    entities: tuple[str, ...] = (),
    *,
    phase: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> ExportResult:
    """Simulate the mapping (nothing written) and list every unmapped value for the consultant."""
    result = map_entities(project, entities, phase=phase, simulate=True, progress=progress)
    merged: dict[tuple[str, str], UnmappedValue] = {}
    for item in (u for e in result.entities for u in e.unmapped):
        seen = merged.get((item.value_map, item.value))
        if seen is not None:  # the same code met through two entities: one row, counts added
            item = UnmappedValue(
                item.value_map, item.value, seen.count + item.count, (seen.samples + item.samples)[:SAMPLES]
            )
        merged[(item.value_map, item.value)] = item
    maps, targets = load_value_maps(project.root), value_map_targets(project.root)
    allowed = {name: allowed_codes(m, targets.get(name, [])) for name, m in maps.items()}
    write_export(path, list(merged.values()), {n: codes for n, codes in allowed.items() if codes})
    return ExportResult(path, len(merged), dict(Counter(k for k, _ in merged)))


@dataclass(frozen=True)
class ImportResult:
    path: Path
    added: dict[str, int]


def import_values(project: Project, path: Path) -> ImportResult:
    """Merge a filled export workbook into the value maps (validated before anything is written)."""
    maps = load_value_maps(project.root)
    additions = read_import(path, maps, value_map_targets(project.root))
    added = {name: merge_entries(maps[name], entries, project.root) for name, entries in additions.items()}
    return ImportResult(path, {k: v for k, v in added.items() if v})
