"""Mapping files (`mappings/<entity>.yaml`) parsed into frozen, validated specs.

A mapping file is data: every identifier in it (entity, target column, rule column,
value-map name, transform name) is checked against the unified model or a registry
before anything runs, and an error names the file and the key path. Source columns are
named by their header text and matched with `normalize_header`; they are never spliced
into SQL (staged tables are read by their checked, quoted column names).

Shape (every key but `entity` and `columns` optional)::

    entity: material_lot
    sources: [lot_ledger]            # one source, or several stacked (twelve monthly sheets)
    timezone: Asia/Shanghai          # naive legacy timestamps; default: project.defaults.timezone
    columns:
      lot_no: {from: 批次号, steps: [trim, upper]}
      uom: {const: kg}
      quantity: {from: 数量, steps: [{number_part: {}}, {to_unit: {to: kg, factors: {g: 0.001}}}]}
      status: {from: 状态, steps: [{value_map: lot_status}]}
      # derived (process_parameter): a boolean from mapped decimals, no steps
      # in_spec: {within: {value: value, min: lower_limit, max: upper_limit}}
    filters:                         # rows dropped on purpose, counted by name
      - {name: voided, column: 状态, in: [作废]}
    duplicates: {policy: reject_all}  # or keep_first / keep_last with order_by: <mapped column>
    rules:
      - {range: {column: quantity, min: 0}, reason: negative_quantity}
      - {compare: {left: expires_on, op: ">=", right: manufactured_on}, reason: expiry_before_manufacture}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from sqlalchemy import Boolean

from migrate.errors import ConfigError
from migrate.model import ENTITIES, ExactDecimal
from migrate.project import NAME, Spec, read_yaml, validated
from migrate.store import REASONS, Reason  # noqa: F401 (re-exported)
from migrate.yamlio import excerpt

MAPPINGS_DIR = "mappings"
VALUES_DIR = "mappings/values"

LINEAGE_COLUMNS = ("_row_id", "_row")  # ordering columns a duplicate policy may use besides mapped ones


class StepSpec(Spec):
    """One named transform and its arguments: a bare name (`trim`), a name and one value
    (`{zero_pad: 6}`), or a name and its arguments (`{zero_pad: {width: 6}}`).

    Example:
        steps: [trim, {zero_pad: {width: 6}}, {value_map: supplier_code}]
    """

    name: str
    args: dict[str, Any] = {}


def _step(value: Any) -> dict:
    """`trim` -> {name: trim}; `{zero_pad: 6}` -> {name, args: {value: 6}}; `{zero_pad: {width: 6}}`."""
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, dict) and len(value) == 1:
        ((name, args),) = value.items()
        if args is None:
            args = {}
        elif not isinstance(args, dict):
            args = {"value": args}
        else:  # YAML 1.1 reads bare `true:` / `false:` keys (the `boolean` step's) as booleans
            args = {(str(k).lower() if isinstance(k, bool) else k): v for k, v in args.items()}
        return {"name": str(name), "args": args}
    raise ValueError("a step is a transform name, or one {name: arguments} pair")


class WithinSpec(Spec):
    """A boolean derived from mapped decimals: `value` lies within [`min`, `max`] (exact decimal
    comparison; a missing limit leaves that side open; a missing value gives NULL).

    Example:
        in_spec: {within: {value: value, min: lower_limit, max: upper_limit}}
    """

    value: str
    min: str | None = None
    max: str | None = None

    @model_validator(mode="after")
    def _a_limit(self) -> WithinSpec:
        if self.min is None and self.max is None:
            raise ValueError("`within` needs `min`, `max` or both (mapped column names)")
        return self

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.value, self.min, self.max) if c is not None)


class ConditionSpec(Spec):
    """A test on one source column of the row (its header text, or `source.header` for a column
    of a joined source): exactly one of `in`, `equals`, `regex` (searched, not anchored) or
    `empty`; `not: true` inverts it. `all:` / `any:` combine several conditions instead.
    Values are compared as trimmed text; an empty cell is never `in` a list nor `equals`.

    Example:
        when: {column: TransType, in: ["W", "S"]}
    """

    column: str | None = Field(default=None, description="The source column tested (header text).")
    in_: tuple[str, ...] | None = Field(
        default=None, alias="in", description="True when the value is one of these."
    )
    equals: str | None = Field(default=None, description="True when the value is exactly this text.")
    regex: str | None = Field(
        default=None, description="True when the regular expression is found in the value."
    )
    empty: bool | None = Field(
        default=None, description="`true`: the cell is empty; `false`: it has a value."
    )
    not_: bool = Field(default=False, alias="not", description="Invert the test.")
    all: tuple[ConditionSpec, ...] | None = Field(default=None, description="True when every condition is.")
    any: tuple[ConditionSpec, ...] | None = Field(default=None, description="True when one condition is.")

    @field_validator("in_", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        return [_scalar_text(v) for v in value] if isinstance(value, list) else value

    @field_validator("equals", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _scalar_text(value)

    @model_validator(mode="after")
    def _one_test(self) -> ConditionSpec:
        tests = sum(x is not None for x in (self.in_, self.equals, self.regex, self.empty))
        combined = sum(x is not None for x in (self.all, self.any))
        if combined:
            if combined > 1 or tests or self.column is not None:
                raise ValueError("`all` or `any` stands alone (no `column`, `in`, `equals`...)")
            return self
        if self.column is None or tests != 1:
            raise ValueError("a condition needs `column` and exactly one of `in`, `equals`, `regex`, `empty`")
        if self.regex is not None:
            _compile(self.regex)
        return self

    @property
    def columns(self) -> tuple[str, ...]:
        """Every source column the condition reads."""
        if self.column is not None:
            return (self.column,)
        return tuple(c for part in (self.all or self.any or ()) for c in part.columns)


def _scalar_text(value: Any) -> Any:
    """YAML scalars compared with staged text: `10` and `true` as written, not as numbers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _yaml_on(data: Any) -> Any:
    """YAML 1.1 reads a bare `on:` key as the boolean true: take it back as `on`."""
    if isinstance(data, dict) and True in data and "on" not in data:
        data = {("on" if k is True else k): v for k, v in data.items()}
    return data


class LookupSpec(Spec):
    """A value found in another declared source, or in an entity this run (or an earlier one)
    has mapped, by one or more key columns. `on` pairs the looked-up side's key columns with
    this row's columns (source headers; for an entity, its mapped column names on the left).
    A key that matches nothing rejects the row (`reason`, default unknown_reference) unless a
    `default` is given; a key that matches several rows with different values is rejected
    too (the lookup would be a guess). Keys are compared as trimmed text. The looked-up side
    is held in memory (its key and value columns only); the mapped rows stream in chunks.

    Example:
        material: {lookup: {source: items, on: {ItemId: ItemId}, take: ItemNumber}}
    """

    source: str | None = Field(default=None, description="A source declared in project.yaml to look in.")
    entity: str | None = Field(default=None, description="An entity mapped before this one to look in.")
    on: dict[str, str] = Field(description="Looked-up side's key column: this row's column.", min_length=1)
    take: str = Field(description="The looked-up side's column whose value is taken.")
    default: str | None = Field(
        default=None, description="Value when nothing matches (else the row is rejected)."
    )
    reason: Reason = Field(default="unknown_reference", description="Reject reason when nothing matches.")

    @model_validator(mode="before")
    @classmethod
    def _bare_on(cls, data: Any) -> Any:
        return _yaml_on(data)

    @field_validator("on", mode="before")
    @classmethod
    def _on(cls, value: Any) -> Any:
        return {value: value} if isinstance(value, str) else value

    @field_validator("default", mode="before")
    @classmethod
    def _default(cls, value: Any) -> Any:
        return _scalar_text(value)

    @model_validator(mode="after")
    def _one_side(self) -> LookupSpec:
        if (self.source is None) == (self.entity is None):
            raise ValueError("a lookup needs exactly one of `source` or `entity`")
        return self

    @property
    def side(self) -> str:
        return self.source or self.entity or ""

    @property
    def columns(self) -> tuple[str, ...]:
        """This row's columns the lookup reads."""
        return tuple(self.on.values())


class CaseSpec(Spec):
    """One branch of a `case`: when `when` holds, the column's value comes from `then`
    (a constant, or an origin with its own steps). A branch with `else` instead of `when`
    is the last one and catches every row no branch took; without it those rows are empty.

    Example:
        case:
          - {when: {column: TransType, equals: P}, then: receipt}
          - {when: {column: TransType, in: [W, S]}, then: {from: Reason, steps: [trim]}}
          - {else: adjustment}
    """

    when: ConditionSpec | None = Field(default=None, description="The condition of this branch.")
    then: ColumnSpec | None = Field(
        default=None, description="A value, or an origin (`from`, `lookup`...) with steps."
    )
    else_: ColumnSpec | None = Field(
        default=None, alias="else", description="The value of rows no branch took."
    )

    @field_validator("then", "else_", mode="before")
    @classmethod
    def _origin(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {"const": value}

    @model_validator(mode="after")
    def _shape(self) -> CaseSpec:
        if self.else_ is not None:
            if self.when is not None or self.then is not None:
                raise ValueError("an `else` branch has no `when` nor `then`")
        elif self.when is None or self.then is None:
            raise ValueError("a branch needs `when` and `then` (or is a lone `else`)")
        return self

    @property
    def origin(self) -> ColumnSpec:
        return self.then if self.then is not None else self.else_  # type: ignore[return-value]


ORIGINS = ("from_", "const", "within", "lookup", "first_of", "case")


class ColumnSpec(Spec):
    """Where one target column's value comes from, and the steps applied in order.

    Exactly one origin: `from` (a source column's header, or several joined by `sep`),
    `const`, `lookup`, `first_of` (the first alternative with a value), `case` (branches
    on conditions) or `within` (a boolean derived from mapped decimals). Then `steps`, then
    `negate_when`: the (decimal) value's sign flipped on rows where the condition holds.

    Example:
        quantity: {from: Qty, steps: [decimal], negate_when: {column: TransType, in: [W, S]}}
    """

    from_: str | tuple[str, ...] | None = Field(
        default=None,
        alias="from",
        description="Source column header(s); `source.header` for a joined source.",
    )
    sep: str = Field(default=" ", description="Joins several `from` columns.")
    const: str | int | float | bool | None = Field(default=None, description="A constant value.")
    within: WithinSpec | None = Field(default=None, description="A boolean derived from mapped decimals.")
    lookup: LookupSpec | None = Field(default=None, description="A value looked up in a source or an entity.")
    first_of: tuple[ColumnSpec, ...] | None = Field(
        default=None, description="Alternatives (each an origin with steps): the first with a value wins."
    )
    case: tuple[CaseSpec, ...] | None = Field(
        default=None, description="Branches on conditions: the first that holds wins."
    )
    steps: tuple[StepSpec, ...] = Field(
        default=(), description="Transforms applied in order to the origin's value."
    )
    negate_when: ConditionSpec | None = Field(
        default=None, description="Flip the sign of the (decimal) value on rows where this holds."
    )

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> Any:
        if value is None:
            return ()
        if not isinstance(value, list):  # `steps: trim` would read as a step by accident
            raise ValueError(f"`steps` is a list of steps: write `steps: [{excerpt(value)}]`")
        return [_step(v) for v in value]

    @field_validator("first_of", mode="before")
    @classmethod
    def _alternatives(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [v if isinstance(v, dict) else {"from": v} for v in value]
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnSpec:
        if sum(getattr(self, k) is not None for k in ORIGINS) != 1:
            raise ValueError(
                "give exactly one of `from` (source column header), `const`, `lookup`, `first_of`,"
                " `case` or `within` (derived)"
            )
        if self.within is not None and (self.steps or self.negate_when):
            raise ValueError("a derived (`within`) column takes no steps")
        if self.first_of is not None and not self.first_of:
            raise ValueError("`first_of` needs at least one alternative")
        if self.case is not None:
            if not self.case:
                raise ValueError("`case` needs at least one branch")
            if any(b.else_ is not None for b in self.case[:-1]):
                raise ValueError("only the last branch of `case` may be `else`")
        return self

    @property
    def sources(self) -> tuple[str, ...]:
        """Source columns read by `from` (not those of nested origins: see `every_column`)."""
        if self.from_ is None:
            return ()
        return (self.from_,) if isinstance(self.from_, str) else self.from_

    def every_column(self) -> tuple[str, ...]:
        """Every source column this origin reads, nested origins and conditions included."""
        found = list(self.sources)
        if self.lookup is not None:
            found += self.lookup.columns
        for alternative in self.first_of or ():
            found += alternative.every_column()
        for branch in self.case or ():
            found += branch.when.columns if branch.when is not None else ()
            found += branch.origin.every_column()
        found += self.negate_when.columns if self.negate_when is not None else ()
        return tuple(dict.fromkeys(found))

    def lookups(self) -> tuple[LookupSpec, ...]:
        """Every lookup of this origin, nested ones included."""
        found = [self.lookup] if self.lookup is not None else []
        for nested in [*(self.first_of or ()), *(b.origin for b in self.case or ())]:
            found += nested.lookups()
        return tuple(found)


class FilterSpec(ConditionSpec):
    """Rows dropped on purpose, counted as filtered under `name` (never silently): a condition
    on the row's source columns (`in`, `equals`, `regex`, `empty`, `not`, `all`, `any`).

    Example:
        filters:
          - {name: voided, column: Status, in: [X, VOID]}
          - {name: not_stock, all: [{column: TransType, equals: W}, {column: Qty, empty: true}]}
    """

    name: str = Field(pattern=NAME, description="Counted under this name in the row accounting.")


class JoinSpec(Spec):
    """Another source joined to this one's rows before they are mapped: `on` pairs this
    source's columns with the joined source's (compared as trimmed text), optionally with a
    validity range (a BOM line valid on the work order's date). Columns of the joined source
    are read as `<source>.<header>`. A row may meet several joined rows (one row each, the
    fan-out stated in the accounting); `how: inner` rejects (or with `unmatched: filter`,
    filters) rows that meet none, `how: left` keeps them with empty joined columns. The joined
    source is held in memory (its used columns only); this source streams in chunks.

    Example:
        join:
          - source: bom_lines
            how: inner
            on: {ProductID: ProductAssemblyID}
            valid: {date: StartDate, from: StartDate, to: EndDate}
    """

    source: str = Field(description="The source joined (declared in project.yaml).")
    how: Literal["inner", "left"] = Field(default="inner", description="`inner` or `left`.")
    on: dict[str, str] = Field(description="This source's column: the joined source's column.", min_length=1)
    valid: ValiditySpec | None = Field(default=None, description="A date range the joined row must cover.")
    unmatched: Literal["reject", "filter"] = Field(
        default="reject", description="`inner` only: rows meeting no joined row are rejected or filtered."
    )
    reason: Reason = Field(default="unknown_reference", description="Reject reason for unmatched rows.")

    @model_validator(mode="before")
    @classmethod
    def _bare_on(cls, data: Any) -> Any:
        return _yaml_on(data)


class ValiditySpec(Spec):
    """The joined row is valid on this row's `date` when `from` <= date <= `to` (an empty `from`
    or `to` is open); dates are parsed as the `date` step does (formats or Excel serials).

    Example:
        valid: {date: DueDate, from: StartDate, to: EndDate}
    """

    date: str = Field(description="This row's date column.")
    from_: str | None = Field(default=None, alias="from", description="The joined source's first valid date.")
    to: str | None = Field(default=None, description="The joined source's last valid date.")

    @model_validator(mode="after")
    def _a_bound(self) -> ValiditySpec:
        if self.from_ is None and self.to is None:
            raise ValueError("`valid` needs `from`, `to` or both (the joined source's date columns)")
        return self


class UnpivotSpec(Spec):
    """Columns turned into rows: each source row becomes one row per listed column, holding
    the column's name (or the name given for it) in `name` and its value in `value`. Every
    row keeps its source row's lineage; rows whose value is empty are filtered as
    `unpivot_empty` unless `keep_empty`. Accounting states the fan-out: one source row, N rows.

    Example:
        unpivot: {columns: {SetupHours: setup, RunHours: run}, name: measure, value: amount}
    """

    columns: dict[str, str] = Field(description="Source column: the name its rows carry.", min_length=1)
    name: str = Field(default="name", description="The new column holding each row's name.")
    value: str = Field(default="value", description="The new column holding each row's value.")
    keep_empty: bool = Field(default=False, description="Keep rows whose value is empty.")

    @field_validator("columns", mode="before")
    @classmethod
    def _columns(cls, value: Any) -> Any:
        return {str(v): str(v) for v in value} if isinstance(value, list) else value


class NumberWithinSpec(Spec):
    """A row number (1, 2, ...) within each group of rows sharing `group`, in `order_by` order
    (text order of the trimmed values, then the source order), computed over the whole
    source in the work store and read as the new column `name`.

    Example:
        number_within: {name: line_no, group: [SalesOrderID], order_by: [SalesOrderDetailID]}
    """

    name: str = Field(description="The new column holding the number.")
    group: tuple[str, ...] = Field(description="Columns whose values make a group.", min_length=1)
    order_by: tuple[str, ...] = Field(default=(), description="Columns ordering a group (then source order).")

    @field_validator("group", "order_by", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class AggregateSpec(Spec):
    """Rows summed before they are mapped (on-hand stock from a ledger): one row per distinct
    `by`, with exact decimal `sum`, `min`, `max` of the listed columns (read under the same
    header) and `count` (a new column counting the group's rows). A row whose summed value is
    not a number is rejected (invalid_number) before it is summed. The lineage of a group's
    row is its first source row; accounting states N source rows into G groups. Empty cells
    are skipped (a group of only empty cells sums to 0).

    Example:
        aggregate: {by: [ProductID, LocationID], sum: [Quantity], count: movements}
    """

    by: tuple[str, ...] = Field(description="Columns whose values make a group.", min_length=1)
    sum: tuple[str, ...] = Field(default=(), description="Columns summed (exact decimals).")
    min: tuple[str, ...] = Field(default=(), description="Columns whose least value is kept.")
    max: tuple[str, ...] = Field(default=(), description="Columns whose greatest value is kept.")
    count: str | None = Field(default=None, description="A new column counting each group's rows.")

    @field_validator("by", "sum", "min", "max", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _something(self) -> AggregateSpec:
        measured = [*self.sum, *self.min, *self.max]
        if not measured and self.count is None:
            raise ValueError("`aggregate` needs `sum`, `min`, `max` or `count`")
        if len(set(measured)) != len(measured):
            raise ValueError("a column is aggregated once (in one of `sum`, `min`, `max`)")
        return self

    @property
    def measured(self) -> tuple[str, ...]:
        return (*self.sum, *self.min, *self.max)


class SourceBlockSpec(Spec):
    """One source of the entity with its own shape: its `columns` (added to, or replacing,
    the file's top-level ones), its `filters` (after the top-level ones), and how its rows
    are prepared before mapping: `join` other sources, `number_within`, `unpivot`,
    `aggregate` (applied in that order: number, join, unpivot, aggregate). Several blocks
    stack their rows, each with its own lineage and accounting.

    Example:
        sources:
          - source: purchases
            columns: {movement_type: {const: receipt}, quantity: {from: ReceivedQty}}
          - source: issues
            columns: {movement_type: {const: issue}, quantity: {from: Qty, steps: [decimal, negate]}}
    """

    source: str = Field(description="A source declared in project.yaml.")
    columns: dict[str, ColumnSpec] = Field(
        default={}, description="This source's columns (override the top level)."
    )
    filters: tuple[FilterSpec, ...] = Field(
        default=(), description="This source's filters (after the top level)."
    )
    join: tuple[JoinSpec, ...] = Field(default=(), description="Sources joined to this one's rows.")
    number_within: NumberWithinSpec | None = Field(default=None, description="A row number within groups.")
    unpivot: UnpivotSpec | None = Field(default=None, description="Columns turned into rows.")
    aggregate: AggregateSpec | None = Field(default=None, description="Rows summed by keys before mapping.")


class DuplicateSpec(Spec):
    """What happens to rows sharing a natural key: `reject_all` rejects every member of a
    group (a pair gives two rejects, duplicate_key); `keep_first` / `keep_last` keep one by
    `order_by` and reject the others.

    Example:
        duplicates: {policy: keep_last, order_by: received_on}
    """

    policy: Literal["reject_all", "keep_first", "keep_last"] = Field(
        default="reject_all", description="`reject_all`, `keep_first` or `keep_last`."
    )
    order_by: str = Field(default="_row_id", description="A mapped column, or `_row_id` (staging order).")


class RangeSpec(Spec):
    column: str
    min: float | None = None
    max: float | None = None


class CompareSpec(Spec):
    left: str
    op: Literal["<", "<=", "=", "!=", ">=", ">"]
    right: str


class InSetSpec(Spec):
    column: str
    values: tuple[str, ...]


class RegexSpec(Spec):
    column: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        _compile(value)
        return value


RULE_KINDS = ("not_null", "unique", "in_set", "range", "regex", "compare")
DEFAULT_REASON: dict[str, str] = {
    "not_null": "missing_value",
    "unique": "duplicate_key",
    "in_set": "unknown_value",
    "range": "out_of_range",
    "regex": "invalid_format",
    "compare": "out_of_range",
}


class RuleSpec(Spec):
    """One quality rule on mapped columns: exactly one kind (`not_null`, `unique`, `in_set`,
    `range`, `regex`, `compare`), an optional name and reason code (else the kind's).

    Example:
        rules:
          - {range: {column: quantity, min: 0}, reason: negative_quantity}
          - {compare: {left: expires_on, op: ">=", right: manufactured_on}, reason: expiry_before_manufacture}
    """

    name: str | None = None
    reason: Reason | None = None
    message: str | None = None
    not_null: tuple[str, ...] | None = None
    unique: tuple[str, ...] | None = None
    in_set: InSetSpec | None = None
    range: RangeSpec | None = None
    regex: RegexSpec | None = None
    compare: CompareSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RuleSpec:
        kinds = [k for k in RULE_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a rule needs exactly one of {', '.join(RULE_KINDS)}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in RULE_KINDS if getattr(self, k) is not None)

    @property
    def code(self) -> str:
        return self.reason or DEFAULT_REASON[self.kind]

    @property
    def label(self) -> str:
        return self.name or self.kind

    @property
    def columns(self) -> tuple[str, ...]:
        body = getattr(self, self.kind)
        if isinstance(body, tuple):
            return body
        if isinstance(body, CompareSpec):
            return (body.left, body.right)
        return (body.column,)


class MappingSpec(Spec):
    """One mapping file: how one target entity is filled from one or more sources.

    Example:
        entity: material
        sources: [items]
        columns:
          material_code: {from: ProductNumber, steps: [trim]}
    """

    entity: str = Field(description="The target entity (the file is named after it).")
    description: str = ""
    sources: tuple[SourceBlockSpec, ...] = Field(
        description="Source names, or blocks with their own columns, filters and reshaping; rows stacked in order."
    )
    timezone: str | None = Field(default=None, description="Zone of naive legacy timestamps.")
    columns: dict[str, ColumnSpec] = Field(
        default={}, description="Target column: where its value comes from."
    )
    filters: tuple[FilterSpec, ...] = Field(
        default=(), description="Rows dropped on purpose, counted by name."
    )
    duplicates: DuplicateSpec = DuplicateSpec()
    rules: tuple[RuleSpec, ...] = ()

    @field_validator("sources", mode="before")
    @classmethod
    def _sources(cls, value: Any) -> Any:
        value = [value] if isinstance(value, str | dict) else value
        if isinstance(value, list):
            return [{"source": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("entity")
    @classmethod
    def _entity(cls, value: str) -> str:
        if value not in ENTITIES:
            raise ValueError(f"unknown entity {value!r}; the unified model has: {', '.join(ENTITIES)}")
        return value

    @model_validator(mode="after")
    def _some_source(self) -> MappingSpec:
        if not self.sources:
            raise ValueError("`sources` names at least one source")
        return self

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(b.source for b in self.sources)

    def for_source(self, i: int) -> MappingSpec:
        """The mapping as source block `i` sees it: its columns over the top-level ones, the
        top-level filters then its own."""
        block = self.sources[i]
        columns = {**self.columns, **block.columns}
        return self.model_copy(
            update={"sources": (block,), "columns": columns, "filters": self.filters + block.filters}
        )


def check_against_model(spec: MappingSpec, file: str) -> None:
    """Every identifier in the mapping names a column of the model; errors give the key path.
    With source blocks, each block's columns (over the top-level ones) are checked whole."""
    mapped = ENTITIES[spec.entity].mapped_columns
    for i, block in enumerate(spec.sources):
        for column in block.columns:
            if column not in mapped:
                raise ConfigError(
                    f"{spec.entity} has no column {column!r}.",
                    file=file,
                    key=f"sources.{i}.columns.{column}",
                    hint=f"{spec.entity} has: {', '.join(mapped)}.",
                )
    if any(b.columns or b.filters for b in spec.sources):
        for i in range(len(spec.sources)):
            _check_one(spec.for_source(i), file, f"sources.{i}.")
    else:
        _check_one(spec, file, "")


def _check_one(spec: MappingSpec, file: str, where: str) -> None:
    mapped = ENTITIES[spec.entity].mapped_columns

    def fail(problem: str, key: str) -> None:
        raise ConfigError(problem, file=file, key=key, hint=f"{spec.entity} has: {', '.join(mapped)}.")

    for column in spec.columns:
        if column not in mapped:
            fail(f"{spec.entity} has no column {column!r}.", f"columns.{column}")
    for column in _required(spec.entity):
        if column not in spec.columns:
            fail(f"{spec.entity}.{column} is mandatory (NOT NULL) and has no mapping.", f"{where}columns")
    for name, column in spec.columns.items():
        _check_within(spec, name, column, fail)
        for lookup in column.lookups():
            _check_entity_lookup(lookup, f"{where}columns.{name}", file)
    for i, rule in enumerate(spec.rules):
        for column in rule.columns:
            if column not in mapped:
                fail(f"{spec.entity} has no column {column!r}.", f"rules.{i}.{rule.kind}")
    if spec.duplicates.order_by not in (*mapped, *LINEAGE_COLUMNS):
        fail(f"{spec.entity} has no column {spec.duplicates.order_by!r}.", "duplicates.order_by")


def _check_within(spec: MappingSpec, name: str, column: ColumnSpec, fail) -> None:
    """A derived boolean reads decimal columns the same file maps (not other derived ones)."""
    if column.within is None:
        return
    table = ENTITIES[spec.entity].table
    if not isinstance(table.c[name].type, Boolean):
        fail(f"{spec.entity}.{name} is not a boolean column; `within` derives a boolean.", f"columns.{name}")
    for part in column.within.columns:
        source = spec.columns.get(part)
        if part not in table.c or not isinstance(table.c[part].type, ExactDecimal):
            fail(
                f"`within` reads {part!r}, which is not a decimal column of {spec.entity}.", f"columns.{name}"
            )
        if source is None or source.within is not None:
            fail(f"`within` reads {part!r}, which this file does not map from a source.", f"columns.{name}")


def _check_entity_lookup(lookup: LookupSpec, key: str, file: str) -> None:
    """A lookup in an entity names the entity and its mapped columns (sources: see the engine)."""
    if lookup.entity is None:
        return
    if lookup.entity not in ENTITIES:
        raise ConfigError(
            f"lookup in unknown entity {lookup.entity!r}.",
            file=file,
            key=key,
            hint=f"Entities: {', '.join(ENTITIES)}.",
        )
    mapped = ENTITIES[lookup.entity].mapped_columns
    for column in (*lookup.on, lookup.take):
        if column not in mapped:
            raise ConfigError(
                f"{lookup.entity} has no column {column!r}.",
                file=file,
                key=f"{key}.lookup",
                hint=f"{lookup.entity} has: {', '.join(mapped)}.",
            )


def _required(entity: str) -> tuple[str, ...]:
    """Mapped columns the model declares NOT NULL (a reference counts by its natural-key column)."""
    spec = ENTITIES[entity]
    by_fk = {r.fk_column: r.column for r in spec.references}
    return tuple(
        by_fk.get(c.name, c.name)
        for c in spec.table.columns
        if not c.nullable and c.name not in ("id", "created_at", "updated_at")
    )


def required_columns(entity: str) -> tuple[str, ...]:
    return _required(entity)


def _compile(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None


for _model in (ConditionSpec, CaseSpec, ColumnSpec, FilterSpec, JoinSpec, SourceBlockSpec, MappingSpec):
    _model.model_rebuild()


def read_mapping(path: Path, root: Path) -> MappingSpec:
    """Parse and validate one mapping file; errors name the file and the key path."""
    data = read_yaml(path, root)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of keys (entity, sources, columns...).", file=_rel(path, root))
    data.setdefault("entity", path.stem)
    spec = validated(MappingSpec, data, path, root)
    if spec.entity != path.stem:
        raise ConfigError(
            f"the file maps {spec.entity!r} but is named {path.name}; name it {spec.entity}.yaml.",
            file=_rel(path, root),
            key="entity",
        )
    check_against_model(spec, _rel(path, root))
    return spec


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def mapping_path(root: Path, entity: str) -> Path:
    return root / MAPPINGS_DIR / f"{entity}.yaml"
