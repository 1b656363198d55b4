"""The rows a source block hands to the mapping: its staged rows, numbered within groups
(`number_within`, a window in the work store's SQL), joined with other sources (`join`,
pandas merges against the joined source held in memory), turned from columns into rows
(`unpivot`) and summed by keys (`aggregate`, exact decimals, partial sums per chunk so memory
grows with the groups, not the rows). Rows a reshape refuses are rejected or filtered here,
with their lineage, so row accounting stays exact."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import column, func, select, table

from migrate.errors import ConfigError
from migrate.mapping.chunk import Outcome
from migrate.mapping.conditions import holds
from migrate.mapping.origins import Sides
from migrate.mapping.plan import Lookup, Plan
from migrate.mapping.spec import AggregateSpec, FilterSpec, JoinSpec, UnpivotSpec
from migrate.mapping.tables import read_staged
from migrate.mapping.transforms import (
    DATE_FORMATS,
    DATETIME_FORMATS,
    TEXT,
    as_text,
    blank_to_na,
    canonical_decimal,
)
from migrate.mapping.transforms import date as parse_date
from migrate.store import LINEAGE, WorkStore, normalize_header, staged_table

REJECT_COLUMNS = ("reason", "rule", "column", "value", "message")
_SUM = pa.decimal128(38, 6)


@dataclass
class Prepared:
    """A chunk of rows ready to map, what its reshaping rejected or filtered, and how many
    staged rows it was made from."""

    rows: pd.DataFrame
    read: int
    rejects: list[pd.DataFrame] = field(default_factory=list)
    filtered: Counter = field(default_factory=Counter)

    def merged_with(self, outcome: Outcome) -> Outcome:
        if self.rejects:
            outcome.rejects = pd.concat([*self.rejects, outcome.rejects], ignore_index=True)
        outcome.filtered = outcome.filtered + self.filtered
        return outcome


# --- which columns a block reads, from where -------------------------------------------------


def _virtual(plan: Plan) -> set[str]:
    """Columns a reshape makes (normalized names), read by the mapping like staged ones."""
    block = plan.block
    made = set()
    if block.number_within is not None:
        made.add(normalize_header(block.number_within.name))
    if block.unpivot is not None:
        made |= {normalize_header(block.unpivot.name), normalize_header(block.unpivot.value)}
    if block.aggregate is not None and block.aggregate.count is not None:
        made.add(normalize_header(block.aggregate.count))
    return made


def _mapping_headers(plan: Plan) -> list[tuple[str, str]]:
    """(key path, header) of every column the columns and filters read (after reshaping)."""
    found = []
    for name, col in plan.spec.columns.items():
        where = f"sources.{plan.index}.columns.{name}" if name in plan.block.columns else f"columns.{name}"
        found += [(f"{where}.from" if h in col.sources else where, h) for h in col.every_column()]
    for i, f in enumerate(plan.spec.filters):
        found += [(f"filters.{i}.column", h) for h in f.columns]
    return found


def _joined_source(header: str, plan: Plan) -> JoinSpec | None:
    for join in plan.block.join:
        if normalize_header(header).startswith(f"{join.source}."):
            return join
    return None


def _block_reads(plan: Plan) -> list[tuple[str, str]]:
    """(key path, header) of every column the block reads, its own or its joined sources'."""
    block, key = plan.block, f"sources.{plan.index}"
    read = _mapping_headers(plan)
    if block.aggregate is not None:
        _check_aggregated(plan, [h for _, h in read], _virtual(plan))
        read = [(f"{key}.aggregate", h) for h in (*block.aggregate.by, *block.aggregate.measured)]
    if block.unpivot is not None:
        read += [(f"{key}.unpivot.columns", h) for h in block.unpivot.columns]
    for j, join in enumerate(block.join):
        read += [(f"{key}.join.{j}.on", h) for h in join.on]
        read += [(f"{key}.join.{j}.valid.date", join.valid.date)] if join.valid else []
    if block.number_within is not None:
        spec = block.number_within
        read += [(f"{key}.number_within", h) for h in (*spec.group, *spec.order_by)]
    return read


def needed_columns(plan: Plan) -> list[tuple[str, list[tuple[str, str]]]]:
    """(source, [(key path, header)]) of every staged table the block reads."""
    block, key = plan.block, f"sources.{plan.index}"
    virtual = _virtual(plan)
    read = _block_reads(plan)
    own = [(k, h) for k, h in read if _joined_source(h, plan) is None and normalize_header(h) not in virtual]
    found = [(block.source, own)]
    for j, join in enumerate(block.join):
        headers = _join_headers(join, [h for _, h in read])
        found.append((join.source, [(f"{key}.join.{j}", h) for h in headers]))
    for col in plan.columns:
        where = (
            f"sources.{plan.index}.columns.{col.name}" if col.name in block.columns else f"columns.{col.name}"
        )
        for lookup in (lk.spec for lk in col.lookups() if lk.spec.source is not None):
            found.append((lookup.source, [(f"{where}.lookup", h) for h in (*lookup.on, lookup.take)]))
    return found


def _join_headers(join: JoinSpec, read: list[str]) -> list[str]:
    prefix = f"{join.source}."
    used = [normalize_header(h).removeprefix(prefix) for h in read if normalize_header(h).startswith(prefix)]
    bounds = [b for b in (join.valid.from_, join.valid.to) if b] if join.valid else []
    return list(dict.fromkeys([*join.on.values(), *bounds, *used]))


def _check_aggregated(plan: Plan, read: list[str], virtual: set[str]) -> None:
    spec = plan.block.aggregate
    kept = {normalize_header(h) for h in (*spec.by, *spec.measured)} | virtual
    for header in read:
        if normalize_header(header) not in kept:
            raise ConfigError(
                f"the mapping reads {header!r}, which `aggregate` does not keep (only `by`, summed and counted columns).",
                file=plan.file,
                key=f"sources.{plan.index}.aggregate",
            )


# --- looked-up and joined sides, held in memory -------------------------------------------------


def load_sides(store: WorkStore, plan: Plan, mapped_name, chunk_size: int) -> Sides:
    """Each lookup's side: keys (trimmed text), the value taken, and how many distinct values
    a key has (read once per entity, only the key and value columns)."""
    frames = {}
    for lookup in plan.lookups():
        name = staged_table(lookup.spec.source) if lookup.spec.source else mapped_name(lookup.spec.entity)
        frames[lookup.id] = _lookup_frame(store, name, lookup, chunk_size)
    return Sides(frames)


def _lookup_frame(store: WorkStore, name: str, lookup: Lookup, chunk_size: int) -> pd.DataFrame:
    wanted = list(dict.fromkeys([*lookup.side_keys, lookup.take]))
    if not store.has_table(name):
        raw = pd.DataFrame({c: pd.Series(dtype=TEXT) for c in wanted})
    else:
        raw = _concat(read_staged(store.engine, name, wanted, chunk_size), wanted)
    keys = pd.DataFrame({k: blank_to_na(as_text(raw[k])).str.strip() for k in lookup.side_keys})
    keys["_take"] = blank_to_na(as_text(raw[lookup.take]))
    keys = keys[keys[list(lookup.side_keys)].notna().all(axis=1)]
    grouped = keys.groupby(list(lookup.side_keys), sort=False, dropna=True)["_take"]
    return pd.concat(
        [grouped.first().rename("_value"), grouped.nunique(dropna=False).rename("_matches")], axis=1
    ).reset_index()


def _concat(chunks, columns: list[str]) -> pd.DataFrame:
    frames = list(chunks)
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({c: pd.Series(dtype=TEXT) for c in columns})
    )


# --- the chunks of one block ------------------------------------------------------------------------


def prepared_chunks(store: WorkStore, plan: Plan, chunk_size: int) -> Iterator[Prepared]:
    """The block's rows, chunk by chunk, reshaped as declared. Filters that read only the
    source's own columns run first when the block reshapes (a ledger's receipts filtered out
    are not rejected by the join meant for its issues); the others run in the mapping."""
    block = plan.block
    joins = [(join, _join_side(store, join, plan, chunk_size)) for join in block.join]
    early = early_filters(plan)
    chunks = (_filtered(Prepared(frame, len(frame)), early) for frame in _read_block(store, plan, chunk_size))
    for join, side in joins:
        # a function, not a generator expression: each join binds its own side
        chunks = _joined(chunks, join, side)
    if block.unpivot is not None:
        chunks = (_unpivot(p, block.unpivot) for p in chunks)
    if block.aggregate is not None:
        chunks = _aggregate(chunks, block.aggregate, chunk_size)
    yield from chunks


def _reshapes(plan: Plan) -> bool:
    block = plan.block
    return bool(block.join) or block.unpivot is not None or block.aggregate is not None


def early_filters(plan: Plan) -> tuple[FilterSpec, ...]:
    """Filters run before reshaping: those reading only the source's own columns, when the
    block reshapes at all."""
    if not _reshapes(plan):
        return ()
    virtual = _virtual(plan)
    return tuple(
        f
        for f in plan.spec.filters
        if all(_joined_source(h, plan) is None and normalize_header(h) not in virtual for h in f.columns)
    )


def mapping_plan(plan: Plan) -> Plan:
    """The plan the chunk mapping runs: without the filters already run before reshaping."""
    early = early_filters(plan)
    if not early:
        return plan
    late = tuple(f for f in plan.spec.filters if f not in early)
    return replace(plan, spec=plan.spec.model_copy(update={"filters": late}))


def _filtered(prepared: Prepared, filters: tuple[FilterSpec, ...]) -> Prepared:
    if not filters:
        return prepared
    rows = prepared.rows
    dropped = pd.Series(False, index=rows.index)
    for f in filters:
        hit = holds(f, rows) & ~dropped
        prepared.filtered[f.name] += int(hit.sum())
        dropped |= hit
    prepared.rows = rows[~dropped].reset_index(drop=True)
    return prepared


def _read_block(store: WorkStore, plan: Plan, chunk_size: int) -> Iterator[pd.DataFrame]:
    source, headers = needed_columns(plan)[0]
    columns = list(dict.fromkeys([*LINEAGE, *(normalize_header(h) for _, h in headers)]))
    name = staged_table(source)
    if plan.block.number_within is None:
        yield from read_staged(store.engine, name, columns, chunk_size)
        return
    yield from _numbered(store, name, columns, plan, chunk_size)


def _numbered(
    store: WorkStore, name: str, columns: list[str], plan: Plan, chunk_size: int
) -> Iterator[pd.DataFrame]:
    """Staged rows with a ROW_NUMBER() window over the whole table (the work store sorts, so
    memory stays bounded); identifiers are checked headers, quoted by SQLAlchemy."""
    spec = plan.block.number_within
    partition = [func.trim(column(normalize_header(g))) for g in spec.group]
    order = [func.trim(column(normalize_header(o))) for o in spec.order_by] + [column("_row_id")]
    number = func.row_number().over(partition_by=partition, order_by=order).label("_number")
    query = select(*(column(c) for c in columns), number).select_from(table(name)).order_by(column("_row_id"))
    made = normalize_header(spec.name)
    with store.engine.connect().execution_options(stream_results=True) as conn:
        result = conn.execute(query)
        while rows := result.fetchmany(chunk_size):
            frame = pd.DataFrame.from_records(rows, columns=[*columns, made], coerce_float=False)
            for c in columns:
                if c not in LINEAGE:
                    frame[c] = as_text(frame[c].astype(object))  # staged columns are text already
            frame[made] = as_text(frame[made].astype("int64").astype(str))
            yield frame


def _join_side(store: WorkStore, join: JoinSpec, plan: Plan, chunk_size: int) -> pd.DataFrame:
    """The joined source's used columns, named `<source>.<header>`, keys trimmed, validity
    bounds parsed to ISO dates (a bound that is not a date makes its row never valid)."""
    headers = [normalize_header(h) for h in _join_headers(join, [h for _, h in _block_reads(plan)])]
    raw = _concat(read_staged(store.engine, staged_table(join.source), headers, chunk_size), headers)
    side = raw.rename(columns={h: f"{join.source}.{h}" for h in headers})
    for i, right in enumerate(join.on.values()):
        side[f"_k{i}"] = blank_to_na(as_text(raw[normalize_header(right)])).str.strip()
    usable = pd.Series(True, index=side.index)
    for bound, header in (("_from", join.valid and join.valid.from_), ("_to", join.valid and join.valid.to)):
        if header:
            parsed = _day(raw[normalize_header(header)])
            side[bound] = parsed.values
            usable &= ~parsed.bad
    keys = [f"_k{i}" for i in range(len(join.on))]
    return side[usable & side[keys].notna().all(axis=1)].reset_index(drop=True)


def _joined(chunks: Iterator[Prepared], join: JoinSpec, side: pd.DataFrame) -> Iterator[Prepared]:
    for prepared in chunks:
        yield _join(prepared, join, side)


def _day(values: pd.Series):
    """Dates as the `date` step reads them, timestamps included (their day)."""
    return parse_date(blank_to_na(as_text(values)), formats=DATE_FORMATS + DATETIME_FORMATS)


def _join(prepared: Prepared, join: JoinSpec, side: pd.DataFrame) -> Prepared:
    """One chunk joined: every (row, joined row) pair that matches (and is valid on the row's
    date); rows meeting none kept (left), rejected or filtered (inner)."""
    rows = prepared.rows.reset_index(drop=True)
    keys = [f"_k{i}" for i in range(len(join.on))]
    left = pd.DataFrame(
        {
            k: blank_to_na(as_text(rows[normalize_header(h)])).str.strip()
            for k, h in zip(keys, join.on, strict=True)
        }
    )
    left["_pos"] = np.arange(len(rows))
    if join.valid is not None:
        left["_on"] = _day(rows[normalize_header(join.valid.date)]).values
    pairs = left.merge(side, how="inner", on=keys, sort=False)
    if join.valid is not None:
        valid = pairs["_on"].notna()
        if "_from" in pairs:
            valid &= pairs["_from"].isna() | (pairs["_from"] <= pairs["_on"])
        if "_to" in pairs:
            valid &= pairs["_to"].isna() | (pairs["_on"] <= pairs["_to"])
        pairs = pairs[valid.fillna(False).astype(bool)]
    joined_cols = [c for c in side.columns if not c.startswith("_")]
    matched = rows.iloc[pairs["_pos"].to_numpy()].reset_index(drop=True)
    matched[joined_cols] = pairs[joined_cols].reset_index(drop=True)
    lonely = rows[~left["_pos"].isin(pairs["_pos"])]
    if join.how == "left":
        extra = lonely.assign(**{c: pd.Series(pd.NA, index=lonely.index, dtype=TEXT) for c in joined_cols})
        order = np.concatenate([pairs["_pos"].to_numpy(), lonely.index.to_numpy()])
        out = pd.concat([matched, extra], ignore_index=True).iloc[np.argsort(order, kind="stable")]
        return Prepared(out.reset_index(drop=True), prepared.read, prepared.rejects, prepared.filtered)
    if join.unmatched == "filter":
        prepared.filtered[f"join_{join.source}"] += len(lonely)
    elif len(lonely):
        prepared.rejects.append(_unmatched(lonely, left, join))
    return Prepared(matched, prepared.read, prepared.rejects, prepared.filtered)


def _unmatched(lonely: pd.DataFrame, left: pd.DataFrame, join: JoinSpec) -> pd.DataFrame:
    keys = left.loc[lonely.index, [f"_k{i}" for i in range(len(join.on))]].astype(object).fillna("")
    shown = keys.astype(str).agg(" | ".join, axis=1)
    where = ""
    if join.valid is not None:
        where = " valid on " + left.loc[lonely.index, "_on"].astype(object).fillna("(no date)").astype(str)
    message = f"no {join.source} row with {', '.join(join.on)} " + shown.map(repr) + where
    return pd.DataFrame(
        {
            **{c: lonely[c] for c in LINEAGE},
            "reason": join.reason,
            "rule": f"join.{join.source}",
            "column": ", ".join(join.on),
            "value": shown,
            "message": message,
        }
    )


def _unpivot(prepared: Prepared, spec: UnpivotSpec) -> Prepared:
    """Each row becomes one row per listed column (in the listed order), lineage repeated."""
    rows = prepared.rows.reset_index(drop=True)
    sources = [normalize_header(c) for c in spec.columns]
    n = len(sources)
    out = rows.drop(columns=sources).iloc[np.repeat(np.arange(len(rows)), n)].reset_index(drop=True)
    values = (
        np.column_stack([rows[c].astype(object).to_numpy() for c in sources]).ravel() if len(rows) else []
    )
    out[normalize_header(spec.name)] = pd.Series(np.tile(list(spec.columns.values()), len(rows)), dtype=TEXT)
    out[normalize_header(spec.value)] = blank_to_na(as_text(pd.Series(values, dtype=object)))
    if not spec.keep_empty:
        empty = out[normalize_header(spec.value)].isna()
        prepared.filtered["unpivot_empty"] += int(empty.sum())
        out = out[~empty].reset_index(drop=True)
    return Prepared(out, prepared.read, prepared.rejects, prepared.filtered)


def _aggregate(chunks: Iterator[Prepared], spec: AggregateSpec, chunk_size: int) -> Iterator[Prepared]:
    """Partial sums per chunk, folded together (memory grows with the groups); the groups
    are handed on at the end, with what every chunk rejected and filtered."""
    by = [normalize_header(c) for c in spec.by]
    total, read, rejects, filtered = None, 0, [], Counter()
    for prepared in chunks:
        read += prepared.read
        rejects += prepared.rejects
        filtered += prepared.filtered
        part, refused = _partial(prepared.rows, spec, by)
        if len(refused):
            rejects.append(refused)
        total = part if total is None else _fold(pd.concat([total, part], ignore_index=True), spec, by)
    if total is None:
        return  # an empty source: no chunk, nothing read
    total = total.drop(columns="_first")
    for measured in spec.measured:
        total[normalize_header(measured)] = as_text(
            total[normalize_header(measured)].astype(str).where(total[normalize_header(measured)].notna())
        )
    if spec.count is not None:
        total[normalize_header(spec.count)] = as_text(total["_n"].astype(str))
    total = total.drop(columns="_n")
    for start in range(0, max(len(total), 1), chunk_size):
        last = start + chunk_size >= len(total)
        yield Prepared(
            total.iloc[start : start + chunk_size].reset_index(drop=True),
            read if last else 0,
            rejects if last else [],
            filtered if last else Counter(),
        )


def _partial(rows: pd.DataFrame, spec: AggregateSpec, by: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One chunk's groups; rows whose measured value is not a number are refused first."""
    frame = rows[[*LINEAGE, *by]].copy()
    for b in by:
        frame[b] = blank_to_na(as_text(frame[b])).str.strip()
    bad = pd.Series(False, index=rows.index)
    refused = []
    for header in spec.measured:
        name = normalize_header(header)
        text, wrong = canonical_decimal(blank_to_na(as_text(rows[name])))
        new = wrong & ~bad
        if new.any():
            refused.append(
                rows.loc[new, list(LINEAGE)].assign(
                    reason="invalid_number",
                    rule="aggregate",
                    column=header,
                    value=rows.loc[new, name],
                    message=f"{header}: "
                    + rows.loc[new, name].astype(object).map(repr)
                    + " is not a number (aggregate)",
                )
            )
        bad |= wrong
        frame[name] = pd.Series(
            pa.array(text, from_pandas=True).cast(_SUM), dtype=pd.ArrowDtype(_SUM), index=rows.index
        )
    frame = frame[~bad]
    frame["_n"] = 1
    frame["_first"] = frame["_row"] if "_row" in frame else 0
    rejected = pd.concat(refused, ignore_index=True) if refused else pd.DataFrame()
    return _fold(frame, spec, by, first=True), rejected


def _fold(frame: pd.DataFrame, spec: AggregateSpec, by: list[str], first: bool = False) -> pd.DataFrame:
    """Groups of `frame` (rows or earlier partial groups) folded: sums and counts added, least
    and greatest kept, the lineage of the earliest row kept."""
    how = {c: "first" for c in LINEAGE}
    how |= {normalize_header(c): "sum" for c in spec.sum}
    how |= {normalize_header(c): "min" for c in spec.min}
    how |= {normalize_header(c): "max" for c in spec.max}
    how |= {"_n": "sum" if not first else "sum", "_first": "first"}
    return frame.groupby(by, sort=False, dropna=False, as_index=False).agg(how)
