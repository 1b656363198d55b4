"""Conditions of `filters`, `case` branches and `negate_when`, evaluated on a chunk of staged
rows, vectorised: a boolean per row (an empty cell is never `in` a list nor `equals`)."""

from __future__ import annotations

import warnings

import pandas as pd

from migrate.mapping.spec import ConditionSpec
from migrate.mapping.transforms import as_text, blank_to_na
from migrate.store import normalize_header


def holds(condition: ConditionSpec, staged: pd.DataFrame) -> pd.Series:
    """Where `condition` holds, per row of `staged` (columns named by normalized header)."""
    if condition.all is not None or condition.any is not None:
        parts = [holds(c, staged) for c in condition.all or condition.any or ()]
        combined = pd.concat(parts, axis=1)
        hit = combined.all(axis=1) if condition.all is not None else combined.any(axis=1)
    else:
        hit = _test(condition, _values(staged, condition.column or ""))
    hit = hit.astype(bool)
    return ~hit if condition.not_ else hit


def _values(staged: pd.DataFrame, header: str) -> pd.Series:
    return blank_to_na(as_text(staged[normalize_header(header)])).str.strip()


def _test(condition: ConditionSpec, values: pd.Series) -> pd.Series:
    if condition.in_ is not None:
        hit = values.isin(list(condition.in_))
    elif condition.equals is not None:
        hit = values == condition.equals
    elif condition.regex is not None:
        with warnings.catch_warnings():  # pandas warns about groups in the pattern: they are harmless here
            warnings.simplefilter("ignore", UserWarning)
            hit = values.str.contains(condition.regex, regex=True)
    else:
        hit = values.isna() if condition.empty else values.notna()
    return hit.fillna(False).astype(bool)
