"""Row-level comparison: two sets of rows keyed alike, every difference with its key.

`compare_frames` compares two DataFrames (any source) in one vectorised pass; `compare_chunks`
does the same over a stream of key-aligned chunk pairs, so memory holds one chunk at a time.
Values are compared as given: canonical text from the work store and the target, or native
pandas values from any other source. The fast path is plain equality; only the rows that
differ there are parsed (exact decimals, UTC instants) to apply a tolerance, so tolerances
are exact at their boundary (1e-6 inside is inside) and cost nothing when values are equal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import numpy as np
import pandas as pd

from migrate.reconcile.spec import Tolerance

Kind = Literal["text", "decimal", "int", "bool", "date", "timestamp"]
OCCURRENCE = "_occurrence"  # which repeat of a key a row is: duplicates pair up in order, as in datacompy


@dataclass(frozen=True)
class ColumnRule:
    """How one column is compared."""

    kind: Kind = "text"
    tolerance: Tolerance | None = None
    normalise: tuple[str, ...] = ()


@dataclass
class Difference:
    """One reported difference; `kind` is missing | only_in_target | duplicate | value."""

    kind: str
    key: dict[str, Any]
    column: str | None = None
    expected: Any = None
    actual: Any = None
    delta: Any = None
    count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "key": self.key}
        if self.kind == "value":
            out |= {"column": self.column, "expected": self.expected, "actual": self.actual}
            if self.delta is not None:
                out["delta"] = self.delta
        if self.count is not None:
            out |= {"side": self.column, "count": self.count}
        return out


@dataclass
class CompareResult:
    """Counts of every kind of difference (all counted), and the first `max_details` listed."""

    key: tuple[str, ...]
    columns: tuple[str, ...]
    expected_rows: int = 0
    actual_rows: int = 0
    matched_rows: int = 0
    missing: int = 0  # rows only on the expected (left) side
    only_in_target: int = 0  # rows only on the actual (right) side
    duplicate_keys_expected: int = 0  # keys present more than once
    duplicate_keys_actual: int = 0
    unequal_rows: int = 0
    unequal_by_column: dict[str, int] = field(default_factory=dict)
    details: list[Difference] = field(default_factory=list)
    max_details: int = 1000
    method: str = "rows"  # rows: every row streamed; pushdown: only segments whose checksums differ
    segments: int | None = None
    segments_compared: int | None = None
    rules: dict[str, ColumnRule] = field(default_factory=dict, repr=False)
    # (key, expected row, actual row) of the rows listed in `details` with different values:
    # the structured difference of each is computed when the report is rendered
    row_values: list[tuple[dict, dict, dict]] = field(default_factory=list, repr=False)

    @property
    def differences(self) -> int:
        return (
            self.missing
            + self.only_in_target
            + self.unequal_rows
            + self.duplicate_keys_expected
            + self.duplicate_keys_actual
        )

    @property
    def ok(self) -> bool:
        return self.differences == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "key": list(self.key),
            "columns": list(self.columns),
            "expected_rows": self.expected_rows,
            "actual_rows": self.actual_rows,
            "matched_rows": self.matched_rows,
            "missing": self.missing,
            "only_in_target": self.only_in_target,
            "duplicate_keys_expected": self.duplicate_keys_expected,
            "duplicate_keys_actual": self.duplicate_keys_actual,
            "unequal_rows": self.unequal_rows,
            "unequal_by_column": dict(self.unequal_by_column),
            "method": self.method,
            "segments": self.segments,
            "segments_compared": self.segments_compared,
            "details_listed": len(self.details),
            "details": [d.to_dict() for d in self.details],
            "row_diffs": [
                {"key": k, "diff": structured_difference(e, a, self.rules)} for k, e, a in self.row_values
            ],
        }

    def _note(self, items: Iterable[Difference]) -> None:
        room = self.max_details - len(self.details)
        if room > 0:
            self.details.extend(d for _, d in zip(range(room), items, strict=False))


def compare_frames(
    expected: pd.DataFrame,
    actual: pd.DataFrame,
    key: Iterable[str],
    rules: dict[str, ColumnRule] | None = None,
    *,
    max_details: int = 1000,
) -> CompareResult:
    """Compare two frames on `key`: rows missing, rows only in `actual`, duplicate keys, unequal values.

    `rules` names the compared columns (default: every non-key column both frames have) and
    how each is compared."""
    key = tuple(key)
    rules = rules if rules is not None else _default_rules(expected, actual, key)
    return compare_chunks([(expected, actual)], key, rules, max_details=max_details)


def compare_chunks(
    chunks: Iterable[tuple[pd.DataFrame, pd.DataFrame]],
    key: tuple[str, ...],
    rules: dict[str, ColumnRule],
    *,
    key_rules: dict[str, ColumnRule] | None = None,
    max_details: int = 1000,
) -> CompareResult:
    """Compare key-aligned chunk pairs (a key's rows all in one pair) and add the results up.

    `key_rules` may normalise key columns too (e.g. codes compared case-insensitively)."""
    result = CompareResult(key, tuple(rules), max_details=max_details, rules=rules)
    result.unequal_by_column = dict.fromkeys(rules, 0)
    normalise = {c: r.normalise for c, r in {**rules, **(key_rules or {})}.items()}
    for left, right in chunks:
        _compare_chunk(
            _prepared(left, key, rules, normalise),
            _prepared(right, key, rules, normalise),
            key,
            rules,
            result,
        )
    return result


def _default_rules(expected: pd.DataFrame, actual: pd.DataFrame, key: tuple[str, ...]) -> dict:
    shared = [c for c in expected.columns if c in actual.columns and c not in key]
    return {c: ColumnRule("decimal" if _numeric(expected[c]) else "text") for c in shared}


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _prepared(frame: pd.DataFrame, key: tuple[str, ...], rules: dict, normalise: dict) -> pd.DataFrame:
    """Key, occurrence number and compared columns, normalised as the rules say."""
    out = frame.loc[:, [*key, *rules]].astype(object)
    for column in (*key, *rules):
        ops = normalise.get(column, ())
        if ops:
            out[column] = normalised(out[column], ops)
    repeated = out.duplicated(list(key), keep=False)
    if repeated.any():  # numbering the repeats costs a groupby: only when there are any
        out[OCCURRENCE] = out.groupby(list(key), sort=False, dropna=False).cumcount()
    else:
        out[OCCURRENCE] = 0
    return out


def normalised(series: pd.Series, ops: Iterable[str]) -> pd.Series:
    """Apply normalisations to text values (other values and NULLs pass unchanged)."""
    series = series.astype(object)
    is_text = series.map(type).eq(str)
    if not is_text.any():
        return series
    text = series[is_text].astype(str)
    for op in ("nbsp", "nfkc", "trim", "case"):  # a fixed order, so rules compose the same way
        if op not in ops:
            continue
        if op == "nbsp":
            text = text.str.replace("\u00a0", " ", regex=False)
        elif op == "nfkc":
            text = text.str.normalize("NFKC")
        elif op == "trim":
            text = text.str.strip()
        else:
            text = text.str.casefold()
    series = series.copy()
    series[is_text] = text.astype(object)
    return series


def _compare_chunk(left, right, key, rules, result: CompareResult) -> None:
    result.expected_rows += len(left)
    result.actual_rows += len(right)
    _count_duplicates(left, key, "expected", result)
    _count_duplicates(right, key, "actual", result)
    on = [*key, OCCURRENCE]
    merged = left.merge(right, on=on, how="outer", suffixes=("__e", "__a"), indicator=True, sort=False)
    side = merged["_merge"]
    # listed in key order whatever order the rows came in (segments come back in table order)
    only_left = merged[side == "left_only"].sort_values(list(key))
    only_right = merged[side == "right_only"].sort_values(list(key))
    result.missing += len(only_left)
    result.only_in_target += len(only_right)
    result._note(Difference("missing", _key(row, key)) for row in _records(only_left, key, rules))
    result._note(Difference("only_in_target", _key(row, key)) for row in _records(only_right, key, rules))
    both = merged[side == "both"]
    result.matched_rows += len(both)
    _compare_values(both, key, rules, result)


def _count_duplicates(frame: pd.DataFrame, key, side: str, result: CompareResult) -> None:
    repeats = frame[frame[OCCURRENCE] == 1]
    if repeats.empty:
        return
    counts = frame.groupby(list(key), sort=True, dropna=False).size()
    counts = counts[counts > 1]
    if side == "expected":
        result.duplicate_keys_expected += len(counts)
    else:
        result.duplicate_keys_actual += len(counts)
    items = counts.reset_index(name="_n")
    result._note(
        Difference(
            "duplicate", {k: _plain(v) for k, v in zip(key, row[:-1], strict=True)}, side, count=int(row[-1])
        )
        for row in items.itertuples(index=False, name=None)
    )


def _compare_values(both: pd.DataFrame, key, rules: dict[str, ColumnRule], result: CompareResult) -> None:
    unequal_any = np.zeros(len(both), dtype=bool)
    per_column: list[tuple[str, np.ndarray]] = []
    for column, rule in rules.items():
        exp, act = both[f"{column}__e"], both[f"{column}__a"]
        unequal = _unequal(exp, act, rule)
        result.unequal_by_column[column] += int(unequal.sum())
        unequal_any |= unequal
        per_column.append((column, unequal))
    result.unequal_rows += int(unequal_any.sum())
    if unequal_any.any() and len(result.details) < result.max_details:
        result._note(_value_differences(both, key, rules, per_column, unequal_any, result.row_values))


def _value_differences(both, key, rules, per_column, unequal_any, rows_out: list) -> Iterator[Difference]:
    rows = both[unequal_any]
    order = np.argsort(rows[list(key)].astype(str).agg("\x1f".join, axis=1).to_numpy(), kind="stable")
    rows = rows.iloc[order]
    masks = {c: m[unequal_any][order] for c, m in per_column}
    for i in range(len(rows)):
        row = rows.iloc[i]
        key_values = {k: _plain(row[k]) for k in key}
        rows_out.append(
            (
                key_values,
                {c: typed(row[f"{c}__e"], r.kind) for c, r in rules.items()},
                {c: typed(row[f"{c}__a"], r.kind) for c, r in rules.items()},
            )
        )
        for column, rule in rules.items():
            if masks[column][i]:
                exp, act = row[f"{column}__e"], row[f"{column}__a"]
                yield Difference(
                    "value",
                    key_values,
                    column,
                    typed(exp, rule.kind),
                    typed(act, rule.kind),
                    _delta(exp, act, rule),
                )


def _unequal(exp: pd.Series, act: pd.Series, rule: ColumnRule) -> np.ndarray:
    """True where two aligned columns differ beyond the rule's tolerance (NULL equals only NULL)."""
    e_null, a_null = exp.isna().to_numpy(), act.isna().to_numpy()
    same = (exp.to_numpy(dtype=object) == act.to_numpy(dtype=object)) | (e_null & a_null)
    unequal = ~same
    candidates = unequal & ~e_null & ~a_null
    if candidates.any() and rule.kind in ("decimal", "int", "timestamp"):
        idx = np.flatnonzero(candidates)
        within = _within_tolerance(exp.iloc[idx], act.iloc[idx], rule)
        unequal[idx[within]] = False
    return unequal


def _within_tolerance(exp: pd.Series, act: pd.Series, rule: ColumnRule) -> np.ndarray:
    tol = rule.tolerance or Tolerance()
    if rule.kind == "timestamp":
        e = pd.to_datetime(exp.astype(str), utc=True, format="ISO8601", errors="coerce")
        a = pd.to_datetime(act.astype(str), utc=True, format="ISO8601", errors="coerce")
        gap = (e.to_numpy() - a.to_numpy()).astype("timedelta64[us]").astype(np.int64)
        ok = ~(pd.isna(e).to_numpy() | pd.isna(a).to_numpy())
        return ok & (np.abs(gap) <= int(tol.seconds * 1_000_000))
    pairs = zip(exp.tolist(), act.tolist(), strict=True)
    return np.fromiter((_close(e, a, tol) for e, a in pairs), dtype=bool, count=len(exp))


def _close(expected: Any, actual: Any, tol: Tolerance) -> bool:
    e, a = as_decimal(expected), as_decimal(actual)
    if e is None or a is None:
        return False  # not numbers: the text differed, so the values differ
    return abs(e - a) <= tol.abs + tol.rel * abs(a)


def as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def _delta(exp: Any, act: Any, rule: ColumnRule) -> Any:
    if _null(exp) or _null(act):
        return None
    if rule.kind in ("decimal", "int"):
        e, a = as_decimal(exp), as_decimal(act)
        return None if e is None or a is None else str(a - e)
    if rule.kind == "timestamp":
        e = pd.to_datetime(str(exp), utc=True, format="ISO8601", errors="coerce")
        a = pd.to_datetime(str(act), utc=True, format="ISO8601", errors="coerce")
        return None if pd.isna(e) or pd.isna(a) else (a - e).total_seconds()
    return None


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT


def typed(value: Any, kind: str) -> Any:
    """A compared value as a JSON-ready typed value: int, bool, exact decimal text, ISO text or str."""
    if _null(value):
        return None
    value = _plain(value)
    if isinstance(value, str):
        if kind == "int":
            try:
                return int(value)
            except ValueError:
                return value
        if kind == "bool" and value in ("true", "false"):
            return value == "true"
    return value


def _plain(value: Any) -> Any:
    if _null(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _records(frame: pd.DataFrame, key, rules) -> Iterator[tuple]:
    return frame.loc[:, list(key)].itertuples(index=False, name=None)


def _key(row: tuple, key: tuple[str, ...]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in zip(key, row, strict=True)}


def same_value(expected: Any, actual: Any, rule: ColumnRule) -> bool:
    """One pair of values as the bulk comparison sees it: NULL equals only NULL; tolerances hold."""
    if _null(expected) or _null(actual):
        return _null(expected) and _null(actual)
    if expected == actual:
        return True
    if rule.kind not in ("decimal", "int", "timestamp"):
        return False
    pair = pd.Series([expected], dtype=object), pd.Series([actual], dtype=object)
    return bool(_within_tolerance(*pair, rule)[0])


def _rule_operator(rules: dict[str, ColumnRule]) -> Any:
    """A deepdiff operator that sees a column's two values as equal exactly when the column's
    rule does (its tolerance, exact decimals); otherwise deepdiff reports them its usual way.
    deepdiff (0.7 s to import, numpy and polars with it) is imported only when a row differs."""
    from deepdiff.operator import BaseOperator

    class RuleOperator(BaseOperator):
        def give_up_diffing(self, level, diff_instance) -> bool:
            column = level.path(output_format="list")[-1]
            rule = rules.get(column, ColumnRule())
            return same_value(level.t1, level.t2, rule)  # True: equal under the rule, nothing reported

    return RuleOperator(regex_paths=[r"^root\[[^\[\]]+\]$"])  # a top-level column, nothing deeper


def structured_difference(expected: dict, actual: dict, rules: dict[str, ColumnRule]) -> dict[str, Any]:
    """deepdiff of one row's expected and actual values (typed), tolerances honoured: JSON-ready
    (`values_changed`, `type_changes` for NULL against a value...)."""
    from deepdiff import DeepDiff

    diff = DeepDiff(expected, actual, custom_operators=[_rule_operator(rules)])
    return json.loads(diff.to_json())
