"""Quality rules, evaluated on a chunk of mapped rows (canonical text), vectorised.

Semantics, so that counts are predictable:
- A rule only judges values that are present: `range`, `in_set`, `regex` pass a NULL
  (declare `not_null` for mandatory columns; the model's NOT NULL columns get one implicitly).
- `compare` passes when either side is NULL (an unknown expiry is not "before" anything).
- Decimal and integer columns compare as numbers, dates and timestamps as their canonical
  text (ISO 8601 in UTC sorts in time order), other columns as text.
- `unique` is a set rule: it runs after every chunk is mapped (see engine: duplicate groups).
"""

from __future__ import annotations

import operator

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Integer, Numeric

from migrate.mapping.spec import RuleSpec, WithinSpec
from migrate.mapping.transforms import TEXT
from migrate.model import ENTITIES, ExactDecimal

_OPS = {
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">": operator.gt,
}


def is_numeric(entity: str, column: str) -> bool:
    table = ENTITIES[entity].table
    if column not in table.c or column.endswith("_id"):
        return False
    return isinstance(table.c[column].type, Integer | Numeric | ExactDecimal)


def _numbers(values: pd.Series) -> pd.Series:
    """Canonical decimal text as floats for comparisons (pyarrow cast; the text stays exact)."""
    try:
        array = pc.cast(pa.array(values.astype(TEXT)), pa.float64())
        return pd.Series(array.to_numpy(zero_copy_only=False), index=values.index)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.to_numeric(values, errors="coerce").astype("float64")


def failures(rule: RuleSpec, frame: pd.DataFrame, entity: str) -> tuple[pd.Series, str]:
    """Rows the rule rejects, and the column to name in the reject."""
    kind = rule.kind
    if kind == "not_null":
        nulls = frame[list(rule.not_null)].isna()
        failed = nulls.any(axis=1)
        if not failed.any():
            return failed, rule.not_null[0]
        first = nulls[failed].idxmax(axis=1).reindex(frame.index)  # the first empty column, per row
        return failed, first
    if kind == "in_set":
        values = frame[rule.in_set.column]
        return values.notna() & ~values.isin(rule.in_set.values), rule.in_set.column
    if kind == "range":
        spec = rule.range
        numbers = _numbers(frame[spec.column])
        low = numbers < spec.min if spec.min is not None else False
        high = numbers > spec.max if spec.max is not None else False
        return (numbers.notna() & (low | high)), spec.column
    if kind == "regex":
        values = frame[rule.regex.column]
        matched = values.str.fullmatch(rule.regex.pattern).fillna(True).astype(bool)
        return values.notna() & ~matched, rule.regex.column
    if kind == "compare":
        return _compare(rule, frame, entity), rule.compare.left
    return pd.Series(False, index=frame.index), ""  # unique: a set rule, see engine


def _compare(rule: RuleSpec, frame: pd.DataFrame, entity: str) -> pd.Series:
    spec = rule.compare
    left, right = frame[spec.left], frame[spec.right]
    both = left.notna() & right.notna()
    if is_numeric(entity, spec.left) and is_numeric(entity, spec.right):
        left, right = _numbers(left), _numbers(right)
    else:
        left, right = left.astype(object), right.astype(object)
    held = pd.Series(False, index=frame.index)
    if both.any():
        held[both] = _OPS[spec.op](left[both], right[both]).astype(bool)
    return both & ~held


def within(frame: pd.DataFrame, spec: WithinSpec) -> pd.Series:
    """ "true" / "false" / NULL: value within the limits, compared as exact NUMERIC(18,6) decimals."""

    def decimals(column: str | None):
        if column is None:
            return None
        return pc.cast(pa.array(frame[column].astype(TEXT)), pa.decimal128(18, 6))

    value, low, high = decimals(spec.value), decimals(spec.min), decimals(spec.max)
    held = pa.scalar(True)
    if low is not None:
        held = pc.and_kleene(held, pc.or_kleene(pc.is_null(low), pc.greater_equal(value, low)))
    if high is not None:
        held = pc.and_kleene(held, pc.or_kleene(pc.is_null(high), pc.less_equal(value, high)))
    held = pc.if_else(pc.is_null(value), pa.scalar(None, pa.bool_()), held)
    text = pc.if_else(held, "true", "false")
    return pd.Series(pd.array(text, dtype=TEXT), index=frame.index)


def describe(rule: RuleSpec) -> str:
    """A human line for the reject message."""
    if rule.message:
        return rule.message
    kind = rule.kind
    if kind == "not_null":
        return "a mandatory value is empty"
    if kind == "in_set":
        return f"not one of {', '.join(rule.in_set.values)}"
    if kind == "range":
        bounds = [
            f">= {rule.range.min:g}" if rule.range.min is not None else "",
            f"<= {rule.range.max:g}" if rule.range.max is not None else "",
        ]
        return f"must be {' and '.join(b for b in bounds if b)}"
    if kind == "regex":
        return f"does not match {rule.regex.pattern}"
    if kind == "compare":
        return f"{rule.compare.left} {rule.compare.op} {rule.compare.right} does not hold"
    return "not unique"
