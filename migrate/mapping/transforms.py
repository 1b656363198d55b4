"""The registry of named transforms a mapping's `steps` refer to.

A transform takes a column of text (a pandas Series of pyarrow strings, NA for no value)
and returns the transformed column, optionally with a mask of rows it could not handle:
those rows are rejected with the transform's reason code (`decimal` -> invalid_number).
Every transform is vectorised: pyarrow compute kernels, or a Python function applied to
the column's *distinct* values only (codes, flags, units repeat; rows do not matter).

Parse transforms (`decimal`, `integer`, `date`, `datetime`, `boolean`) produce the
canonical text of `migrate.store.to_canonical`, so every step is text in, text out.

Projects add transforms by import path (`transforms:` in project.yaml): a module that
calls `@transform(...)` on import, or `package.module:function`. Mapping files only name
transforms; a string in YAML is never executed.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from migrate.errors import ConfigError

TEXT = pd.StringDtype("pyarrow")
SCALE = 6
_DEC_TYPE = pa.decimal128(18, SCALE)
# Plain decimals that fit NUMERIC(18, 6): cast by pyarrow exactly; anything else takes the slow path.
_FAST_DECIMAL = r"^[+-]?\d{1,12}(\.\d{0,6})?$"
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_NUMBER_UNIT = r"^\s*([+-]?(?:\d+(?:[.,]\d+)*|\.\d+))\s*([^\d\s].*?)?\s*$"
_SERIAL = r"^\d{1,7}(\.\d+)?$"
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # Excel's day 0 (the 1900 leap-year bug absorbed)


@dataclass(frozen=True)
class StepResult:
    """A step's output: the new values, rows it rejects, rows whose code no value map knows,
    rows a value map gave its declared default."""

    values: pd.Series
    bad: pd.Series | None = None
    unmapped: pd.Series | None = None
    reason: str | None = None
    defaulted: pd.Series | None = None


@dataclass
class StepContext:
    """What a step may need beyond its column: time zone and the project's value maps."""

    timezone: str = "Asia/Shanghai"
    value_maps: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Transform:
    name: str
    fn: Callable[..., Any]
    reason: str | None  # reason code for rows the transform flags as bad
    wants_context: bool


TRANSFORMS: dict[str, Transform] = {}


def transform(name: str, *, reason: str | None = None) -> Callable:
    """Register `fn(values, **args)` (or `fn(values, ctx, **args)`) as transform `name`."""

    def register(fn: Callable) -> Callable:
        params = list(inspect.signature(fn).parameters)
        TRANSFORMS[name] = Transform(name, fn, reason, len(params) > 1 and params[1] == "ctx")
        return fn

    return register


def check_step(name: str, args: dict, file: str, key: str) -> Transform:
    """The transform a step names, its arguments bound against its signature (at config time)."""
    if name not in TRANSFORMS:
        raise ConfigError(
            f"unknown transform {name!r}.",
            file=file,
            key=key,
            hint=f"Known transforms: {', '.join(sorted(TRANSFORMS))}.",
        )
    found = TRANSFORMS[name]
    try:
        if found.wants_context:
            inspect.signature(found.fn).bind(None, None, **args)
        else:
            inspect.signature(found.fn).bind(None, **args)
    except TypeError as exc:
        raise ConfigError(f"transform {name!r}: {exc}.", file=file, key=key) from None
    return found


def run_step(found: Transform, values: pd.Series, args: dict, ctx: StepContext) -> StepResult:
    out = found.fn(values, ctx, **args) if found.wants_context else found.fn(values, **args)
    if isinstance(out, StepResult):
        return (
            out
            if out.reason or out.bad is None
            else StepResult(out.values, out.bad, out.unmapped, found.reason, out.defaulted)
        )
    return StepResult(as_text(out))


def load_project_transforms(paths: tuple[str, ...], root: Path) -> None:
    """Import the project's transform modules (`pkg.mod`) or functions (`pkg.mod:fn`)."""
    added = str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        for i, path in enumerate(paths):
            module_name, _, attr = path.partition(":")
            try:
                module = importlib.import_module(module_name)
                if attr:
                    transform(attr)(getattr(module, attr))
            except (ImportError, AttributeError) as exc:
                raise ConfigError(
                    f"cannot import transform {path!r}: {exc}.", file="project.yaml", key=f"transforms.{i}"
                ) from None
    finally:
        if added:
            sys.path.remove(str(root))


# --- helpers ---------------------------------------------------------------------------


def as_text(values: Any) -> pd.Series:
    """A column as pyarrow-backed text, blank strings kept (see `blank_to_na`)."""
    if isinstance(values, pd.Series):
        return values if values.dtype == TEXT else values.astype(TEXT)
    return pd.Series(values, dtype=object).astype(TEXT)


def blank_to_na(values: pd.Series) -> pd.Series:
    """'' and whitespace-only are no value: the legacy files do not tell them from NULL."""
    blank = (values.str.strip() == "").fillna(False).astype(bool)
    return values.mask(blank) if blank.any() else values


def arrow_text(array, index: pd.Index) -> pd.Series:
    """A pyarrow string array as a text Series, without a round trip through Python objects."""
    return pd.Series(array, dtype=TEXT, index=index)


def distinct(values: pd.Series, fn: Callable[[str], Any]) -> tuple[np.ndarray, np.ndarray]:
    """`fn` of each distinct value (NA excluded), and each row's position in that list (-1 = NA)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return np.array([fn(u) for u in uniques] + [None], dtype=object), codes


def by_distinct(values: pd.Series, fn: Callable[[str], Any]) -> pd.Series:
    """Apply a Python function to each distinct value once and spread the results (codes repeat)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def _arrow(values: pd.Series) -> pa.ChunkedArray | pa.Array:
    return pa.array(as_text(values))


def _flagged(values: pd.Series, bad: pd.Series, **kw) -> StepResult:
    return StepResult(values.mask(bad), bad.fillna(False).astype(bool), **kw)


# --- text ------------------------------------------------------------------------------


@transform("trim")
def trim(values: pd.Series) -> pd.Series:
    """Remove spaces (and other white space) at both ends.

    Example:
        supplier_code: {from: 供应商编码, steps: [trim]}
    """
    return values.str.strip()


@transform("upper")
def upper(values: pd.Series) -> pd.Series:
    """Upper-case letters (`v016` -> `V016`).

    Example:
        supplier_code: {from: 供应商编码, steps: [trim, upper]}
    """
    return values.str.upper()


@transform("lower")
def lower(values: pd.Series) -> pd.Series:
    """Lower-case letters (`KG` -> `kg`).

    Example:
        uom: {from: 单位, steps: [trim, lower]}
    """
    return values.str.lower()


@transform("nfkc")
def nfkc(values: pd.Series) -> pd.Series:
    """Unicode NFKC: full-width letters, digits and punctuation become half-width
    (`ＡＢ１２` -> `AB12`).

    Example:
        lot_no: {from: 批次号, steps: [nfkc, trim]}
    """
    return as_text(by_distinct(values, lambda v: unicodedata.normalize("NFKC", v)))


@transform("collapse_spaces")
def collapse_spaces(values: pd.Series) -> pd.Series:
    """Fold runs of spaces, tabs and non-breaking spaces into one space, and trim.

    Example:
        name: {from: 物料名称, steps: [collapse_spaces]}
    """
    return values.str.replace("\u00a0", " ", regex=False).str.replace(r"\s+", " ", regex=True).str.strip()


@transform("zero_pad")
def zero_pad(
    values: pd.Series, value: int | None = None, width: int | None = None, fill: str = "0"
) -> pd.Series:
    """Pad on the left to `width` characters with `fill` (default `0`): `42` -> `000042`.
    `{zero_pad: 6}` is short for `{zero_pad: {width: 6}}`.

    Example:
        material_code: {from: 物料编码, steps: [trim, {zero_pad: {width: 6}}]}
    """
    return values.str.pad(int(width or value or 0), side="left", fillchar=fill)


@transform("prefix")
def prefix(values: pd.Series, value: str) -> pd.Series:
    """Put a fixed text in front of every value (`1001` -> `M1001`).

    Example:
        material_code: {from: 物料编码, steps: [trim, {prefix: M}]}
    """
    return str(value) + values


@transform("replace")
def replace(values: pd.Series, pattern: str, to: str = "") -> pd.Series:
    """Replace every match of the regular expression `pattern` with `to` (default: remove it).

    Example:
        supplier_code: {from: 供应商编码, steps: [{replace: {pattern: "[-/]", to: ""}}]}
    """
    return values.str.replace(pattern, to, regex=True)


@transform("null_if")
def null_if(values: pd.Series, value: list | str) -> pd.Series:
    """Turn sentinel texts that mean "no value" (`NA`, `-`, `/`) into no value: staged text is
    kept exactly as read, so the mapping says which texts are sentinels.

    Example:
        supplier_lot_no: {from: 供应商批号, steps: [trim, {null_if: ["-", "/", "NA"]}]}
    """
    sentinels = [str(v) for v in (value if isinstance(value, list) else [value])]
    return values.mask(values.isin(sentinels))


@transform("default")
def default(values: pd.Series, value: Any) -> pd.Series:
    """Fill rows with no value with a fixed value (the row is counted as mapped, not rejected).

    Example:
        country: {from: 国家, steps: [trim, {default: CN}]}
    """
    return values.fillna(str(value))


@transform("regex_extract", reason="invalid_format")
def regex_extract(values: pd.Series, pattern: str, group: int = 1) -> StepResult:
    """Keep the first match of `pattern` (its group `group`, default 1; the whole match when
    the pattern has no group). A value that does not match is rejected (`invalid_format`).

    Example:
        work_order_no: {from: 工单, steps: [{regex_extract: {pattern: '(WO\\d+)'}}]}
    """
    if re.compile(pattern).groups == 0:  # no group: the whole match
        pattern, group = f"({pattern})", 1
    found = values.str.extract(pattern, expand=True)
    picked = as_text(found.iloc[:, group - 1])
    return _flagged(picked, values.notna() & picked.isna())


@transform("number_part", reason="invalid_number")
def number_part(values: pd.Series) -> StepResult:
    """The number at the start of a value with a unit: `12.5 kg` -> `12.5`. A value with no
    leading number is rejected (`invalid_number`).

    Example:
        quantity: {from: 数量, steps: [number_part, decimal]}
    """
    found = values.str.extract(_NUMBER_UNIT, expand=True)
    number = as_text(found[0])
    return _flagged(number, values.notna() & number.isna())


@transform("unit_part", reason="invalid_format")
def unit_part(values: pd.Series, default: str | None = None) -> StepResult:
    """The unit after a number: `12.5 kg` -> `kg`; a number without a unit gives `default`
    (or no value). A value with no leading number is rejected (`invalid_format`).

    Example:
        uom: {from: 数量, steps: [{unit_part: {default: kg}}]}
    """
    found = values.str.extract(_NUMBER_UNIT, expand=True)
    unit = as_text(found[1]).str.strip()
    if default is not None:
        unit = unit.where(found[0].isna() | unit.notna(), str(default))
    return _flagged(unit, values.notna() & found[0].isna())


@transform("to_unit", reason="unknown_value")
def to_unit(
    values: pd.Series, factors: dict, to: str | None = None, default_unit: str | None = None
) -> StepResult:
    """Convert `number unit` to one unit with exact decimal factors: `500 g` -> `0.5` with
    factors `{g: 0.001, kg: 1}`. `to` is the unit the factors lead to (factor 1);
    `default_unit` applies to numbers without a unit. An unknown unit is rejected
    (`unknown_value`).

    Example:
        quantity: {from: 数量, steps: [{to_unit: {to: kg, factors: {g: 0.001, t: 1000}}}, decimal]}
    """
    table = {str(k).casefold(): Decimal(str(v)) for k, v in factors.items()}
    if to is not None:
        table.setdefault(str(to).casefold(), Decimal(1))
    pattern = re.compile(_NUMBER_UNIT)

    def convert(raw: str) -> str | None:
        match = pattern.match(raw)
        if not match:
            return None
        unit = (match.group(2) or default_unit or "").strip().casefold()
        if unit not in table:
            return None
        try:
            return str(Decimal(match.group(1).replace(",", "")) * table[unit])
        except InvalidOperation:
            return None

    out = as_text(by_distinct(values, convert))
    return _flagged(out, values.notna() & out.isna())


# --- parsing to canonical text -----------------------------------------------------------


def canonical_decimal(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Exact decimals at scale 6 as text (`12.5` -> `12.500000`), and the rows that are no number.

    Plain numbers are cast by pyarrow (exact, no float); grouped thousands (`1,234.5`),
    exponents and longer fractions go through `Decimal` per distinct value. `12,5` is refused
    rather than guessed (decimal comma or thousands?).
    """
    text = values.str.strip()
    array = _arrow(text)
    fast = pc.fill_null(pc.match_substring_regex(array, _FAST_DECIMAL), False)
    every_plain = pc.all(pc.or_(fast, pc.is_null(array))).as_py()
    plain = array if every_plain else pc.if_else(fast, array, pa.scalar(None, pa.string()))
    cast = pc.cast(pc.cast(plain, _DEC_TYPE), pa.string())
    out = arrow_text(cast, values.index)
    slow = text.notna() & ~pd.Series(fast.to_numpy(zero_copy_only=False), index=values.index)
    if slow.any():
        out = out.where(~slow, as_text(by_distinct(text[slow], _slow_decimal)).reindex(values.index))
    bad = (text.notna() & out.isna()).astype(bool)
    return out, bad


def _slow_decimal(raw: str) -> str | None:
    text = raw.replace(" ", "")
    if "," in text:
        if not _GROUPED.match(text):
            return None
        text = text.replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    quantized = number.quantize(Decimal(1).scaleb(-SCALE))
    if len(quantized.as_tuple().digits) > 18:
        return None
    return str(quantized)


@transform("decimal", reason="invalid_number")
def decimal(values: pd.Series) -> StepResult:
    """An exact decimal at scale 6 (`12.5` -> `12.500000`): never a float. Grouped thousands
    (`1,234.5`) and exponents are read; `12,5` is refused rather than guessed (decimal comma
    or thousands?). A value that is no number is rejected (`invalid_number`).

    Example:
        quantity: {from: 数量, steps: [decimal]}
    """
    out, bad = canonical_decimal(values)
    return StepResult(out, bad)


@transform("integer", reason="invalid_number")
def integer(values: pd.Series) -> StepResult:
    """A whole number (`007` -> `7`, `12.000` -> `12`); `12.5` or text is rejected
    (`invalid_number`).

    Example:
        shelf_life_days: {from: 保质期(天), steps: [integer]}
    """
    out, bad = canonical_decimal(values)
    whole = out.str.endswith(".000000")
    bad = bad | (out.notna() & ~whole.fillna(False).astype(bool))
    as_int = out.str.slice(stop=-7).str.replace(r"^(-?)0+(?=\d)", r"\1", regex=True).replace("-0", "0")
    return StepResult(as_int.mask(bad), bad.astype(bool))


@transform("negate")
def negate(values: pd.Series) -> pd.Series:
    """Flip the sign of a decimal (issues booked as positive in a legacy ledger). Use after
    `decimal`.

    Example:
        quantity: {from: 出库数量, steps: [decimal, negate]}
    """
    flipped = values.str.replace(r"^-", "", regex=True)
    zero = values.str.fullmatch(r"[+-]?0*\.?0*").fillna(False).astype(bool)  # no `-0`
    keep = values.str.startswith("-").fillna(False).astype(bool) | zero
    return flipped.where(keep, "-" + values).where(values.notna())


def parse_timestamps(
    values: pd.Series, formats: list[str], excel_serial: bool
) -> tuple[pd.Series, pd.Series]:
    """Naive or aware timestamps from text in the declared formats (first match wins), Excel
    serial day numbers if allowed; and whether each parsed value carried its own offset."""
    text = values.str.strip()
    naive = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    aware = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    for fmt in formats:
        todo = text.notna() & naive.isna() & aware.isna()
        if not todo.any():
            break
        subset = text if todo.all() else text[todo]  # the first format usually meets every row
        if "%z" in fmt:
            parsed = pd.to_datetime(subset, format=fmt, errors="coerce", utc=True).reindex(values.index)
            aware = aware.where(~todo, parsed)
        else:
            parsed = pd.to_datetime(subset, format=fmt, errors="coerce").reindex(values.index)
            naive = naive.where(~todo, parsed.astype("datetime64[us]"))
    if excel_serial:
        todo = text.notna() & naive.isna() & aware.isna() & text.str.match(_SERIAL).fillna(False).astype(bool)
        if todo.any():
            days = pd.to_numeric(text[todo], errors="coerce")
            days = days.where((days >= 1) & (days < 2958466))
            naive = naive.where(
                ~todo, (_EXCEL_EPOCH + pd.to_timedelta(days, unit="D")).reindex(values.index).dt.round("us")
            )
    return naive, aware


DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日"]
DATETIME_FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M",
]


@transform("date", reason="invalid_date")
def date(values: pd.Series, formats: list[str] | None = None, excel_serial: bool = True) -> StepResult:
    """A date, `YYYY-MM-DD`, read with the first of `formats` that matches (default:
    `2024-03-01`, `2024/03/01`, `2024.03.01`, `20240301`, `2024年03月01日`), or an Excel
    serial day number unless `excel_serial: false`. Impossible dates are rejected
    (`invalid_date`).

    Example:
        received_on: {from: 入库日期, steps: [{date: {formats: ["%d.%m.%Y"]}}]}
    """
    naive, aware = parse_timestamps(values, formats or DATE_FORMATS, excel_serial)
    stamp = naive.where(naive.notna(), aware.dt.tz_localize(None))
    days = pa.array(stamp.dt.floor("D").astype("datetime64[s]"), from_pandas=True).cast(pa.date32())
    out = arrow_text(days.cast(pa.string()), values.index)
    bad = (values.str.strip().notna() & out.isna()).astype(bool)
    return StepResult(out, bad)


@transform("datetime", reason="invalid_date")
def datetime_(
    values: pd.Series,
    ctx: StepContext,
    formats: list[str] | None = None,
    excel_serial: bool = True,
    timezone: str | None = None,
) -> StepResult:
    """A timestamp in UTC (ISO 8601). Values without an offset are read in `timezone`
    (default: the mapping's, else the project's); a wall time that does not exist there (a
    DST gap) is rejected (`invalid_date`). `formats` and `excel_serial` as for `date`.

    Example:
        recorded_at: {from: 采集时间, steps: [{datetime: {timezone: Asia/Shanghai}}]}
    """
    naive, aware = parse_timestamps(values, formats or DATETIME_FORMATS + DATE_FORMATS, excel_serial)
    zone = timezone or ctx.timezone
    local = naive.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    stamp = local.where(local.notna(), aware)
    out = iso_utc(stamp)
    bad = (values.str.strip().notna() & out.isna()).astype(bool)
    return StepResult(out, bad)


def iso_utc(stamp: pd.Series) -> pd.Series:
    """`to_canonical` of aware timestamps, vectorised: `2024-03-01T00:30:00+00:00`, with
    `.ffffff` only when there are fractional seconds (as `datetime.isoformat` does)."""
    plain = stamp.dt.tz_localize(None).astype("datetime64[us]")
    arr_us = pa.array(plain, from_pandas=True)
    seconds = pc.cast(pc.cast(arr_us, pa.timestamp("s"), safe=False), pa.string())
    micros = pc.cast(arr_us, pa.string())
    fractional = pa.array((plain.dt.microsecond != 0).fillna(False).to_numpy())
    chosen = pc.if_else(fractional, micros, seconds)
    iso = pc.binary_join_element_wise(pc.replace_substring(chosen, " ", "T"), "+00:00", "")
    return arrow_text(iso, stamp.index)


TRUE_WORDS = ("是", "y", "yes", "true", "t", "1", "合格", "ok", "pass", "对", "√")
FALSE_WORDS = ("否", "n", "no", "false", "f", "0", "不合格", "ng", "fail", "错", "×")


@transform("boolean", reason="unknown_value")
def boolean(values: pd.Series, true: list | None = None, false: list | None = None) -> StepResult:
    """`true` or `false` from 是/否, Y/N, yes/no, 1/0, 合格/不合格, OK/NG… (case-insensitive), or
    from your own `true` and `false` word lists. Anything else is rejected (`unknown_value`).

    Example:
        in_spec: {from: 是否合格, steps: [{boolean: {"true": [OK], "false": [NG]}}]}
    """
    table = {str(w).strip().casefold(): "true" for w in (true or TRUE_WORDS)}
    table |= {str(w).strip().casefold(): "false" for w in (false or FALSE_WORDS)}
    out = as_text(by_distinct(values, lambda v: table.get(v.strip().casefold())))
    return _flagged(out, values.notna() & out.isna())


@transform("value_map", reason="unknown_value")
def value_map(
    values: pd.Series, ctx: StepContext, value: str | None = None, name: str | None = None
) -> StepResult:
    """Legacy code -> unified code through the value map `mappings/values/NAME.yaml` (or
    `.xlsx`). With `strict: true` (the default) a code the map does not know rejects the
    row (`unknown_value`) and is listed by `migrate values export`.

    Example:
        status: {from: 状态, steps: [trim, {value_map: lot_status}]}
    """
    found = ctx.value_maps[name or value]
    return found.apply(values)
