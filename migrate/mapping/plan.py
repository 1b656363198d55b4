"""A mapping file compiled for the engine: every step bound to its transform, every value map
to its file, at configuration time (so a bad name fails before any row is read)."""

from __future__ import annotations

from dataclasses import dataclass

from migrate.errors import ConfigError
from migrate.mapping.spec import MappingSpec, WithinSpec
from migrate.mapping.transforms import StepContext, Transform, check_step
from migrate.store import normalize_header


@dataclass(frozen=True)
class Step:
    transform: Transform
    args: dict
    label: str  # `quantity.decimal`, named in rejects


@dataclass(frozen=True)
class TargetColumn:
    name: str
    sources: tuple[str, ...]  # staged column names (normalized headers)
    headers: tuple[str, ...]  # as written in the mapping, for messages
    sep: str
    const: str | None
    steps: tuple[Step, ...]
    within: WithinSpec | None = None  # derived after the other columns are typed


@dataclass(frozen=True)
class Plan:
    spec: MappingSpec
    file: str
    columns: tuple[TargetColumn, ...]
    context: StepContext


def compile_mapping(spec: MappingSpec, file: str, context: StepContext) -> Plan:
    """Bind every step to its transform and every value map to its file, at config time."""
    columns = []
    for name, col in spec.columns.items():
        steps = []
        for i, step in enumerate(col.steps):
            key = f"columns.{name}.steps.{i}"
            found = check_step(step.name, step.args, file, key)
            if step.name == "value_map":
                map_name = step.args.get("name") or step.args.get("value")
                if map_name not in context.value_maps:
                    known = ", ".join(sorted(context.value_maps)) or "none"
                    raise ConfigError(f"unknown value map {map_name!r}; known: {known}.", file=file, key=key)
            steps.append(Step(found, step.args, f"{name}.{step.name}"))
        const = None if col.const is None else _const_text(col.const)
        headers = col.sources
        columns.append(
            TargetColumn(
                name,
                tuple(normalize_header(h) for h in headers),
                headers,
                col.sep,
                const,
                tuple(steps),
                col.within,
            )
        )
    return Plan(spec, file, tuple(columns), context)


def _const_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
