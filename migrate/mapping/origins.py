"""A target column's value per row of a chunk, from its origin (`from`, `const`, `lookup`,
`first_of`, `case`) and its steps, vectorised. What went wrong is collected, not applied:
a `first_of` alternative's failure counts only where no alternative gave a value, a `case`
branch's only on the rows that took it (the chunk applies them, first failure wins)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from migrate.mapping.conditions import holds
from migrate.mapping.plan import Lookup, Step, TargetColumn
from migrate.mapping.transforms import TEXT, StepContext, as_text, blank_to_na, negate, run_step

_TEXT_STEPS = {"regex_extract", "replace", "unit_part", "prefix", "collapse_spaces"}


@dataclass(frozen=True)
class Failure:
    """Rows a step (or lookup) refused: reason, rule label, the value before, a message."""

    mask: pd.Series
    reason: str
    rule: str
    before: pd.Series
    message: str


@dataclass(frozen=True)
class Flagged:
    """Rows whose code a value map does not know (`unmapped`) or gave its default (`defaulted`)."""

    mask: pd.Series
    before: pd.Series
    value_map: str


@dataclass
class Built:
    values: pd.Series
    failures: list[Failure] = field(default_factory=list)
    unmapped: list[Flagged] = field(default_factory=list)
    defaulted: list[Flagged] = field(default_factory=list)

    def only(self, rows: pd.Series) -> Built:
        """What went wrong, kept for `rows` only."""
        return Built(
            self.values,
            [replace(f, mask=f.mask & rows) for f in self.failures],
            [replace(u, mask=u.mask & rows) for u in self.unmapped],
            [replace(d, mask=d.mask & rows) for d in self.defaulted],
        )

    def absorb(self, other: Built) -> None:
        self.failures += other.failures
        self.unmapped += other.unmapped
        self.defaulted += other.defaulted


@dataclass(frozen=True)
class Sides:
    """Looked-up sides, loaded by the engine: `Lookup.id` -> frame of key columns, `_value`,
    `_matches` (distinct values per key; above 1 the lookup is ambiguous)."""

    frames: dict[tuple, pd.DataFrame] = field(default_factory=dict)


def build(col: TargetColumn, staged: pd.DataFrame, context: StepContext, sides: Sides) -> Built:
    """The column's values (text) and what went wrong, for every row of `staged`."""
    built = _origin(col, staged, context, sides)
    for step in col.steps:
        _apply_step(built, step, col, context)
    if col.steps and col.steps[-1].transform.name in _TEXT_STEPS:
        built.values = blank_to_na(built.values)  # a text step (regex, replace...) may leave '' behind
    if col.negate_when is not None:
        flip = holds(col.negate_when, staged) & built.values.notna()
        if flip.any():
            built.values = built.values.where(~flip, as_text(negate(built.values)))
    return built


def _origin(col: TargetColumn, staged, context, sides: Sides) -> Built:
    if col.lookup is not None:
        return _looked_up(col, col.lookup, staged, sides)
    if col.first_of:
        return _first_of(col, staged, context, sides)
    if col.case:
        return _case(col, staged, context, sides)
    return Built(_source_values(col, staged))


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


def _first_of(col: TargetColumn, staged, context, sides: Sides) -> Built:
    """The first alternative with a value, row by row; the rows none fills keep the failures
    of the alternatives (the first one's wins)."""
    values = pd.Series(pd.NA, index=staged.index, dtype=TEXT)
    out = Built(values)
    for alternative in col.first_of:
        got = build(alternative, staged, context, sides)
        taken = values.isna() & got.values.notna()
        values = values.where(~taken, got.values)
        out.unmapped += got.only(taken).unmapped
        out.defaulted += got.only(taken).defaulted
        out.failures += got.failures  # restricted below, once the final value is known
    out.values = values
    unfilled = values.isna()
    out.failures = [replace(f, mask=f.mask & unfilled) for f in out.failures]
    return out


def _case(col: TargetColumn, staged, context, sides: Sides) -> Built:
    """The first branch whose condition holds gives the value (its failures count on the rows
    it took); rows no branch takes stay empty."""
    undecided = pd.Series(True, index=staged.index)
    out = Built(pd.Series(pd.NA, index=staged.index, dtype=TEXT))
    for condition, origin in col.case:
        took = undecided & (holds(condition, staged) if condition is not None else True)
        if not took.any():
            continue
        got = build(origin, staged, context, sides)
        out.values = out.values.where(~took, got.values)
        out.absorb(got.only(took))
        undecided &= ~took
    return out


def _looked_up(col: TargetColumn, lookup: Lookup, staged: pd.DataFrame, sides: Sides) -> Built:
    """A vectorised left merge of this chunk's keys with the looked-up side."""
    side = sides.frames[lookup.id]
    keys = pd.DataFrame(
        {
            k: blank_to_na(as_text(staged[r])).str.strip()
            for k, r in zip(lookup.side_keys, lookup.row_keys, strict=True)
        }
    )
    keyed = keys.notna().all(axis=1)
    merged = keys.merge(side, how="left", on=list(lookup.side_keys), sort=False)
    merged.index = staged.index  # a left merge on unique keys keeps the rows and their order
    found = as_text(merged["_value"])
    matches = merged["_matches"].fillna(0)
    parts = [keys[c].fillna("") for c in keys.columns]
    shown = parts[0].str.cat(parts[1:], sep=" | ") if len(parts) > 1 else keys.iloc[:, 0]  # vectorised
    spec = lookup.spec
    names = ", ".join(spec.on.values())
    failures = [
        Failure(
            keyed & (matches > 1),
            spec.reason,
            f"{col.name}.lookup",
            shown,
            f"{names} {{value}} matches several rows of {spec.side} with different {spec.take}",
        )
    ]
    missing = keyed & (matches == 0)
    values = found.where(keyed & (matches == 1))
    if spec.default is not None:
        values = values.where(~missing, spec.default)
    else:
        failures.append(
            Failure(
                missing, spec.reason, f"{col.name}.lookup", shown, f"{names} {{value}} is not in {spec.side}"
            )
        )
    return Built(as_text(values), failures)


def _apply_step(built: Built, step: Step, col: TargetColumn, context: StepContext) -> None:
    before = built.values
    result = run_step(step.transform, before, step.args, context)
    built.values = as_text(result.values)
    if result.bad is not None:
        built.failures.append(
            Failure(
                result.bad, result.reason or "invalid_format", step.label, before, step_message(step, col)
            )
        )
    name = step.args.get("name") or step.args.get("value")
    if result.unmapped is not None:
        built.unmapped.append(Flagged(result.unmapped, before, name))
    if result.defaulted is not None:
        built.defaulted.append(Flagged(result.defaulted, before, name))


_PHRASES = {
    "invalid_number": "is not a number",
    "invalid_date": "is not a valid date",
    "invalid_format": "does not have the expected format",
    "unknown_value": "is not a known code",
}


def step_message(step: Step, col: TargetColumn) -> str:
    shown = ", ".join(col.headers) or ("lookup" if col.lookup is not None else "constant")
    phrase = _PHRASES.get(step.transform.reason or "", "was refused")
    if step.transform.name == "value_map":
        phrase = f"is not in value map {step.args.get('name') or step.args.get('value')}"
    elif step.transform.name == "integer":
        phrase = "is not a whole number"
    return f"{shown}: {{value}} {phrase} ({step.label})"
