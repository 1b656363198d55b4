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
    """One named transform and its arguments (`trim`, or `{zero_pad: {width: 6}}`)."""

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
        return {"name": str(name), "args": args}
    raise ValueError("a step is a transform name, or one {name: arguments} pair")


class WithinSpec(Spec):
    """A boolean derived from mapped decimals: `value` lies within [`min`, `max`] (exact decimal
    comparison; a missing limit leaves that side open; a missing value gives NULL)."""

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


class ColumnSpec(Spec):
    """Where one target column's value comes from, and the steps applied in order."""

    from_: str | tuple[str, ...] | None = Field(default=None, alias="from")
    sep: str = " "  # joins several `from` columns
    const: str | int | float | bool | None = None
    within: WithinSpec | None = None  # derived from other mapped columns, after they are typed
    steps: tuple[StepSpec, ...] = ()

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> Any:
        if value is None:
            return ()
        if not isinstance(value, list):  # `steps: trim` would read as a step by accident
            raise ValueError(f"`steps` is a list of steps: write `steps: [{excerpt(value)}]`")
        return [_step(v) for v in value]

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnSpec:
        if sum(x is not None for x in (self.from_, self.const, self.within)) != 1:
            raise ValueError(
                "give exactly one of `from` (source column header), `const` or `within` (derived)"
            )
        if self.within is not None and self.steps:
            raise ValueError("a derived (`within`) column takes no steps")
        return self

    @property
    def sources(self) -> tuple[str, ...]:
        if self.from_ is None:
            return ()
        return (self.from_,) if isinstance(self.from_, str) else self.from_


class FilterSpec(Spec):
    """Rows dropped on purpose (counted as filtered under `name`), tested on a raw source column."""

    name: str = Field(pattern=NAME)
    column: str
    in_: tuple[str, ...] | None = Field(default=None, alias="in")
    regex: str | None = None
    empty: bool | None = None

    @model_validator(mode="after")
    def _one_test(self) -> FilterSpec:
        if sum(x is not None for x in (self.in_, self.regex, self.empty)) != 1:
            raise ValueError("a filter needs exactly one of `in`, `regex`, `empty`")
        if self.regex is not None:
            _compile(self.regex)
        return self


class DuplicateSpec(Spec):
    """What happens to rows sharing a natural key (see engine docs: groups, not pairs)."""

    policy: Literal["reject_all", "keep_first", "keep_last"] = "reject_all"
    order_by: str = "_row_id"  # a mapped column or the staging order


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
    """One quality rule: exactly one kind, an optional name and reason code."""

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
    entity: str
    description: str = ""
    sources: tuple[str, ...]
    timezone: str | None = None
    columns: dict[str, ColumnSpec]
    filters: tuple[FilterSpec, ...] = ()
    duplicates: DuplicateSpec = DuplicateSpec()
    rules: tuple[RuleSpec, ...] = ()

    @field_validator("sources", mode="before")
    @classmethod
    def _sources(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("entity")
    @classmethod
    def _entity(cls, value: str) -> str:
        if value not in ENTITIES:
            raise ValueError(f"unknown entity {value!r}; the unified model has: {', '.join(ENTITIES)}")
        return value


def check_against_model(spec: MappingSpec, file: str) -> None:
    """Every identifier in the mapping names a column of the model; errors give the key path."""
    mapped = ENTITIES[spec.entity].mapped_columns

    def fail(problem: str, key: str) -> None:
        raise ConfigError(problem, file=file, key=key, hint=f"{spec.entity} has: {', '.join(mapped)}.")

    for column in spec.columns:
        if column not in mapped:
            fail(f"{spec.entity} has no column {column!r}.", f"columns.{column}")
    for column in _required(spec.entity):
        if column not in spec.columns:
            fail(f"{spec.entity}.{column} is mandatory (NOT NULL) and has no mapping.", "columns")
    for name, column in spec.columns.items():
        _check_within(spec, name, column, fail)
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
