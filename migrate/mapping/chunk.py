"""One chunk of staged rows -> mapped rows and rejects, vectorised (no Python loop per row).

Checks run in a fixed order and the first failure wins, so a rejected row has one reason:
step failures (column order), the model's NOT NULL columns, declared rules (file order),
the model's enumerations and text lengths (constraints.py), references. Set rules (duplicates, `unique`) run
after every chunk (see engine).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from migrate.mapping import rules as quality
from migrate.mapping import transforms as t
from migrate.mapping.conditions import holds
from migrate.mapping.constraints import check_model
from migrate.mapping.origins import Sides, build
from migrate.mapping.plan import Plan, TargetColumn
from migrate.mapping.spec import required_columns
from migrate.mapping.transforms import TEXT
from migrate.model import ENTITIES, ExactDecimal, UtcDateTime
from migrate.store import LINEAGE

_TYPE_STEP = {"decimal": ("decimal", "integer"), "integer": ("integer",), "date": ("date",)}


@dataclass
class Outcome:
    """What one chunk became: mapped rows, rejects, filter counts, unmapped values."""

    mapped: pd.DataFrame
    rejects: pd.DataFrame
    filtered: Counter = field(default_factory=Counter)
    unmapped: list[pd.DataFrame] = field(default_factory=list)
    defaulted: list[pd.DataFrame] = field(default_factory=list)


class _Failures:
    """The first failure of each row (reason, rule, column, value, message), and every
    reason the row failed for (`reasons`, for the consultant's worklist)."""

    def __init__(self, index: pd.Index) -> None:
        self.frame = pd.DataFrame(
            {
                k: pd.Series(None, index=index, dtype=object)
                for k in ("reason", "rule", "column", "value", "message", "reasons")
            }
        )

    def add(self, mask: pd.Series, reason: str, rule: str, column, values, message: str) -> None:
        """Record a failure for rows not failed yet. `{value}` in the message is filled per
        rejected row only (rejects are few; the rows that pass never pay for messages)."""
        self._also(mask, reason)
        new = mask & self.frame["reason"].isna()
        if not new.any():
            return
        for key, value in (("reason", reason), ("rule", rule), ("column", column)):
            self.frame.loc[new, key] = value[new] if isinstance(value, pd.Series) else value
        shown = values[new].astype(object) if values is not None else None
        if shown is not None:
            self.frame.loc[new, "value"] = shown.where(shown.notna(), None)
        if "{value}" in message and shown is not None:
            filled = shown.map(lambda v: message.replace("{value}", _excerpt(None if pd.isna(v) else v)))
            self.frame.loc[new, "message"] = filled
        else:
            self.frame.loc[new, "message"] = message

    def _also(self, mask: pd.Series, reason: str) -> None:
        """Append `reason` to the failing rows' list (only those rows are touched: rejects are few)."""
        hit = mask.fillna(False).astype(bool)
        if not hit.any() or not isinstance(reason, str):
            return
        listed = self.frame.loc[hit, "reasons"]
        self.frame.loc[hit, "reasons"] = listed.where(listed.isna(), listed + ", " + reason).fillna(reason)

    @property
    def failed(self) -> pd.Series:
        return self.frame["reason"].notna()


def _excerpt(value, limit: int = 60) -> str:
    """A value as the message shows it: repr, cut short (a hostile cell never fills a message)."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def map_chunk(
    plan: Plan, staged: pd.DataFrame, references: dict[str, pa.Array], sides: Sides | None = None
) -> Outcome:
    """Map one chunk of staged rows (lineage + staged columns as text): vectorised, no row loop.
    `sides` holds the looked-up sides of the plan's lookups (loaded by the engine)."""
    entity = plan.spec.entity
    filtered = _apply_filters(plan, staged)
    alive = filtered.isna()
    failures = _Failures(staged.index)
    out = pd.DataFrame(
        {c: pd.Series(pd.NA, index=staged.index, dtype=TEXT) for c in ENTITIES[entity].mapped_columns}
    )
    unmapped: list[pd.DataFrame] = []
    defaulted: list[pd.DataFrame] = []
    for col in plan.columns:
        if col.within is None:
            out[col.name] = _build_column(
                col, staged, alive, failures, (unmapped, defaulted), plan.context, sides or Sides()
            )
    _typed_and_required(entity, out, failures, plan)
    for col in plan.columns:
        if col.within is not None:
            out[col.name] = quality.within(out, col.within)
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
    check_model(entity, out, failures)  # enumerations and lengths: what load would refuse
    _check_references(entity, out, failures, references)
    rejected = alive & failures.failed
    kept = alive & ~failures.failed
    lineage = staged[list(LINEAGE)]
    rejects = pd.concat([lineage[rejected], failures.frame[rejected]], axis=1)
    rejects["key"] = _key_text(out.loc[rejected, list(ENTITIES[entity].natural_key)])
    if kept.all():  # the common chunk: no row to drop, no copy of every column
        mapped = pd.concat([lineage, out], axis=1)
    else:
        mapped = pd.concat([lineage[kept], out[kept]], axis=1)
    return Outcome(mapped, rejects, Counter(filtered.dropna()), unmapped, defaulted)


def _key_text(keys: pd.DataFrame) -> pd.Series:
    """The natural key of each rejected row as one text (`K1 | K2`), empty parts as ''."""
    if keys.empty:
        return pd.Series(dtype=object, index=keys.index)
    parts = [pc.fill_null(pa.array(keys[c].astype(TEXT)).cast(pa.string()), "") for c in keys.columns]
    joined = pc.binary_join_element_wise(*parts, " | ")  # Arrow kernels, no Python call per row
    return pd.Series(joined.to_numpy(zero_copy_only=False), index=keys.index, dtype=object)


def _named_values(out: pd.DataFrame, named) -> pd.Series:
    if isinstance(named, pd.Series):  # not_null: the first empty column per row; its value is empty
        return pd.Series(None, index=out.index, dtype=object)
    return out[named]


def _apply_filters(plan: Plan, staged: pd.DataFrame) -> pd.Series:
    """Each row's first filter that holds (its name), or NA."""
    name = pd.Series(None, index=staged.index, dtype=object)
    for f in plan.spec.filters:
        hit = holds(f, staged) & name.isna()
        name[hit] = f.name
    return name


def _build_column(
    col: TargetColumn, staged, alive, failures: _Failures, outcome_lists: tuple[list, list], context, sides
) -> pd.Series:
    built = build(col, staged, context, sides)
    for f in built.failures:
        failures.add(f.mask & alive, f.reason, f.rule, col.name, f.before, f.message)
    for flagged, into in ((built.unmapped, outcome_lists[0]), (built.defaulted, outcome_lists[1])):
        for item in flagged:
            hit = item.mask & alive
            if hit.any():
                into.append(
                    pd.concat(
                        [staged.loc[hit, list(LINEAGE)], item.before[hit].rename("value")], axis=1
                    ).assign(value_map=item.value_map)
                )
    return built.values


def _typed_and_required(entity: str, out: pd.DataFrame, failures: _Failures, plan: Plan) -> None:
    """Parse columns no step typed to the model's type; then the model's NOT NULL columns."""

    table = ENTITIES[entity].table
    columns = {c.name: c for c in plan.columns if c.within is None}
    for name in out.columns:
        kind = _kind(table, name)
        if kind is None or name not in columns or columns[name].typed_by(set(_TYPE_STEP.get(kind, (kind,)))):
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


def _check_references(
    entity: str, out: pd.DataFrame, failures: _Failures, references: dict[str, pa.Array]
) -> None:
    for ref in ENTITIES[entity].references:
        values = out[ref.column]
        known = pc.is_in(pa.array(values.astype(TEXT)), value_set=references[ref.column])
        missing = values.notna() & ~pd.Series(known.to_numpy(zero_copy_only=False), index=values.index)
        if missing.any():
            message = f"{ref.column} {{value}} is not a known {ref.entity}"
            failures.add(missing, "unknown_reference", f"reference.{ref.entity}", ref.column, values, message)
