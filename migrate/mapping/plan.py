"""A mapping file compiled for the engine: every step bound to its transform, every value map
to its file, at configuration time (so a bad name fails before any row is read).

A file with several sources compiles to one `Plan` per source (its columns over the
top-level ones, its filters after them), gathered in an `EntityPlan`."""

from __future__ import annotations

from dataclasses import dataclass

from migrate.errors import ConfigError
from migrate.mapping.spec import (
    ColumnSpec,
    ConditionSpec,
    LookupSpec,
    MappingSpec,
    SourceBlockSpec,
    WithinSpec,
)
from migrate.mapping.transforms import StepContext, Transform, check_step
from migrate.store import normalize_header


@dataclass(frozen=True)
class Step:
    transform: Transform
    args: dict
    label: str  # `quantity.decimal`, named in rejects


@dataclass(frozen=True)
class Lookup:
    """A compiled lookup: the side looked in, its key columns paired with this row's columns
    (both as staged/mapped column names), the column taken."""

    spec: LookupSpec
    side_keys: tuple[str, ...]
    row_keys: tuple[str, ...]
    take: str

    @property
    def id(self) -> tuple:
        return (self.spec.source, self.spec.entity, self.side_keys, self.take)


@dataclass(frozen=True)
class TargetColumn:
    name: str
    sources: tuple[str, ...]  # staged column names (normalized headers)
    headers: tuple[str, ...]  # as written in the mapping, for messages
    sep: str
    const: str | None
    steps: tuple[Step, ...]
    within: WithinSpec | None = None  # derived after the other columns are typed
    lookup: Lookup | None = None
    first_of: tuple[TargetColumn, ...] = ()
    case: tuple[tuple[ConditionSpec | None, TargetColumn], ...] = ()  # None: the `else` branch
    negate_when: ConditionSpec | None = None

    def lookups(self) -> tuple[Lookup, ...]:
        found = [self.lookup] if self.lookup is not None else []
        for nested in [*self.first_of, *(origin for _, origin in self.case)]:
            found += nested.lookups()
        return tuple(found)

    def typed_by(self, names: set[str]) -> bool:
        """Whether one of the transforms `names` has typed every value (its own steps, or
        every alternative / branch of its origin)."""
        if {s.transform.name for s in self.steps} & names:
            return True
        nested = [*self.first_of, *(origin for _, origin in self.case)]
        return bool(nested) and all(n.typed_by(names) for n in nested)


@dataclass(frozen=True)
class Plan:
    """How the rows of one source become the entity's rows."""

    spec: MappingSpec  # as this source sees it (`MappingSpec.for_source`)
    file: str
    columns: tuple[TargetColumn, ...]
    context: StepContext
    index: int = 0  # the source block's position, for key paths in messages

    @property
    def block(self) -> SourceBlockSpec:
        return self.spec.sources[0]

    @property
    def source(self) -> str:
        return self.block.source

    def lookups(self) -> tuple[Lookup, ...]:
        return tuple({lk.id: lk for c in self.columns for lk in c.lookups()}.values())


@dataclass(frozen=True)
class EntityPlan:
    """Every source's plan of one mapping file, in the order their rows are stacked."""

    spec: MappingSpec
    file: str
    sources: tuple[Plan, ...]
    context: StepContext


def compile_mapping(spec: MappingSpec, file: str, context: StepContext) -> EntityPlan:
    """Bind every step to its transform and every value map to its file, at config time."""
    plans = []
    for i in range(len(spec.sources)):
        seen = spec.for_source(i)
        columns = tuple(
            _compile_column(name, col, file, f"{_block_key(spec, i, name)}", context)
            for name, col in seen.columns.items()
        )
        plans.append(Plan(seen, file, columns, context, i))
    return EntityPlan(spec, file, tuple(plans), context)


def _block_key(spec: MappingSpec, i: int, name: str) -> str:
    return f"sources.{i}.columns.{name}" if name in spec.sources[i].columns else f"columns.{name}"


def _compile_column(name: str, col: ColumnSpec, file: str, key: str, context: StepContext) -> TargetColumn:
    steps = tuple(
        _compile_step(name, step, file, f"{key}.steps.{i}", context) for i, step in enumerate(col.steps)
    )
    lookup = None
    if col.lookup is not None:
        side = col.lookup
        normal = normalize_header if side.source is not None else str
        lookup = Lookup(
            side,
            tuple(normal(k) for k in side.on),
            tuple(normalize_header(v) for v in side.on.values()),
            normal(side.take),
        )
    return TargetColumn(
        name,
        tuple(normalize_header(h) for h in col.sources),
        col.sources,
        col.sep,
        None if col.const is None else _const_text(col.const),
        steps,
        col.within,
        lookup,
        tuple(
            _compile_column(name, alt, file, f"{key}.first_of.{i}", context)
            for i, alt in enumerate(col.first_of or ())
        ),
        tuple(
            (b.when, _compile_column(name, b.origin, file, f"{key}.case.{i}", context))
            for i, b in enumerate(col.case or ())
        ),
        col.negate_when,
    )


def _compile_step(name: str, step, file: str, key: str, context: StepContext) -> Step:
    found = check_step(step.name, step.args, file, key)
    if step.name == "value_map":
        map_name = step.args.get("name") or step.args.get("value")
        if map_name not in context.value_maps:
            known = ", ".join(sorted(context.value_maps)) or "none"
            raise ConfigError(f"unknown value map {map_name!r}; known: {known}.", file=file, key=key)
    return Step(found, step.args, f"{name}.{step.name}")


def _const_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
